"""A self-contained HTML report: no network assets, every string escaped, plots as inline SVG.

Per suite: a sortable leaderboard, an accuracy-versus-latency Pareto plot (colour = runtime, marker =
quantization, the frontier drawn), latency distributions from the raw samples, and the comparison
with the baseline when there is one.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from pytest_aibench.core.result import Result
from pytest_aibench.core.verdict import Comparison
from pytest_aibench.report import notes, paired
from pytest_aibench.report.ranking import by_task, columns, fmt, headline, label, ranked, score_of
from pytest_aibench.report.summary import by_suite, summarize

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th{cursor:pointer;background:#f6f6f6;position:sticky;top:0}td.l,th.l{text-align:left}
tr.failed td,tr.error td{background:#fde8e8}tr.skipped td{color:#888}
.meta{color:#555;font-size:12px}.bad{color:#b00020;font-weight:600}.busy{color:#b00020;font-size:11px}svg{background:#fff;border:1px solid #ddd}
"""

JS = """
function aibenchKey(cell){
  var v = cell ? (cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent) : '';
  return String(v).trim();
}
function aibenchCompare(x, y){
  if (x === '' || y === '') { return (x === '') - (y === ''); }
  var nx = Number(x), ny = Number(y);
  if (!isNaN(nx) && !isNaN(ny)) { return nx - ny; }
  return x < y ? -1 : (x > y ? 1 : 0);  /* code-unit order: the same in every browser and locale */
}
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('thead th').forEach(function(th){
    th.addEventListener('click', function(){
      var col = th.cellIndex, body = table.tBodies[0];
      if (!body) { return; }
      var asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
      var rows = Array.from(body.rows);
      rows.sort(function(a, b){
        var x = aibenchKey(a.cells[col]), y = aibenchKey(b.cells[col]);
        if (x === '' || y === '') { return (x === '') - (y === ''); }  /* blanks last either way */
        var c = aibenchCompare(x, y);
        return asc ? c : -c;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def _marker(shape: str, x: float, y: float, color: str, title: str) -> str:
    t = f"<title>{escape(title)}</title>"
    r = 6
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}" fill-opacity=".8">{t}</circle>'
    if shape == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" fill="{color}" fill-opacity=".8">{t}</rect>'
    pts = {
        "triangle": [(0, -r - 1), (r + 1, r), (-r - 1, r)],
        "diamond": [(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)],
        "cross": [
            (-2, -r),
            (2, -r),
            (2, -2),
            (r, -2),
            (r, 2),
            (2, 2),
            (2, r),
            (-2, r),
            (-2, 2),
            (-r, 2),
            (-r, -2),
            (-2, -2),
        ],
        "star": [
            (0, -r - 2),
            (2, -2),
            (r + 2, -1),
            (3, 2),
            (4, r + 2),
            (0, 4),
            (-4, r + 2),
            (-3, 2),
            (-r - 2, -1),
            (-2, -2),
        ],
    }
    p = " ".join(f"{x + dx:.1f},{y + dy:.1f}" for dx, dy in pts.get(shape, pts["diamond"]))
    return f'<polygon points="{p}" fill="{color}" fill-opacity=".8">{t}</polygon>'


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Evenly spaced round ticks (steps of 1, 2 or 5 x 10^k) inside [lo, hi], at least two."""
    if not hi > lo:
        return [lo]
    for step in sorted(
        m * 10.0**k
        for k in range(math.floor(math.log10(hi - lo)) - 2, math.floor(math.log10(hi - lo)) + 2)
        for m in (1, 2, 5)
    ):
        first = math.ceil(lo / step - 1e-9)
        n = math.floor(hi / step + 1e-9) - first + 1
        if 2 <= n <= most:
            return [round((first + i) * step, 12) for i in range(n)]
    return [lo, hi]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis from 10^lo to 10^hi: 1-2-5 per decade, or round linear steps when the
    axis spans too little of a decade for two of those to fall on it."""
    out = [
        m * 10.0**k
        for k in range(math.floor(lo), math.ceil(hi) + 1)
        for m in (1, 2, 5)
        if lo <= math.log10(m * 10.0**k) <= hi
    ]
    return out if len(out) >= 2 else nice_ticks(10**lo, 10**hi, 5)


def text_width(text: str, size: float) -> float:
    """A generous estimate of ``text``'s rendered width in a sans-serif font of ``size`` px (wide glyphs
    count more), so labels placed by it are never clipped and never collide."""
    wide = sum(1 for c in text if c in "MWmw@%")
    narrow = sum(1 for c in text if c in "il.,:;|!'[]()-1 ")
    return size * (0.62 * (len(text) - wide - narrow) + 0.95 * wide + 0.4 * narrow)


def spaced(ticks: list[tuple[float, str]], size: float, gap: float = 6.0) -> list[tuple[float, str]]:
    """Of (x, label) ticks on a horizontal axis, the most whose labels do not overlap: every other one,
    then every fourth, ... until neighbours are ``gap`` px apart (the first tick always kept)."""
    for step in (1, 2, 3, 4, 5, 6, 8, 10, 20, 50):
        kept = ticks[::step]
        if all(
            b[0] - a[0] >= (text_width(a[1], size) + text_width(b[1], size)) / 2 + gap
            for a, b in zip(kept, kept[1:], strict=False)
        ):
            return kept
    return ticks[:1]


def _decimals(ticks: list[float]) -> int:
    step = min((b - a for a, b in zip(ticks, ticks[1:], strict=False)), default=1.0) or 1.0
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _kind(r: Result) -> str:
    """Which latency an item's figures are, in a few words (a chart's axis and tooltips)."""
    return "LoadGen per query" if r.metrics.get("latency.measure") == "query" else "per timed call"


def _points(
    out: list[str],
    pts: list[tuple[Result, float, float]],
    sx: Any,
    sy: Any,
    shape: dict[str, str],
    color: dict[str, str],
    what: str = "accuracy",
) -> bool:
    """Each item's marker; its model's name where colour (runtime) and shape (quantization) alone would
    not tell it from another model; a red ring on a failed item. Whether any item failed."""
    models_per_style: dict[tuple[str, str], set[str]] = {}
    for r, _, _ in pts:
        models_per_style.setdefault((str(r.axes.get("framework")), str(r.axes.get("quantization"))), set()).add(r.model)
    failed = False
    for r, lat, acc in pts:
        fw, q = str(r.axes.get("framework")), str(r.axes.get("quantization"))
        out.append(
            _marker(
                shape[q],
                sx(lat),
                sy(acc),
                color[fw],
                f"{label(r)}: {what} {acc:.4f}, p50 {lat:.4g} ms "
                f"({_kind(r)})" + (f" ({r.outcome})" if r.outcome != "passed" else ""),
            )
        )
        if len(models_per_style[(fw, q)]) > 1:  # colour and shape alone would not tell these models apart
            out.append(
                f'<text x="{sx(lat) + 8:.1f}" y="{sy(acc) - 6:.1f}" font-size="9" fill="#333">{escape(r.model)}</text>'
            )
        if r.outcome in ("failed", "error"):
            failed = True
            out.append(
                f'<circle cx="{sx(lat):.1f}" cy="{sy(acc):.1f}" r="10" fill="none" stroke="#b00020" '
                f'stroke-width="2" class="failed-mark"><title>{escape(label(r))}: {escape(r.outcome)}</title></circle>'
            )
    return failed


def _legend(
    out: list[str],
    lx0: float,
    ly: float,
    fws: list[str],
    qs: list[str],
    color: dict[str, str],
    shape: dict[str, str],
    failed: bool,
) -> None:
    """Runtimes by colour, quantizations by shape, and the failed-item ring where one is drawn."""
    for i, fw in enumerate(fws):
        out.append(
            f'<rect x="{lx0}" y="{ly + 16 * i - 8}" width="10" height="10" fill="{color[fw]}"/>'
            f'<text x="{lx0 + 16}" y="{ly + 16 * i + 1}" font-size="11">{escape(fw)}</text>'
        )
    ly += 16 * len(fws) + 12
    for i, q in enumerate(qs):
        out.append(
            _marker(shape[q], lx0 + 5, ly + 16 * i - 3, "#555", q)
            + f'<text x="{lx0 + 16}" y="{ly + 16 * i + 1}" font-size="11">{escape(q)}</text>'
        )
    if failed:
        ly += 16 * len(qs) + 8
        out.append(
            f'<circle cx="{lx0 + 5}" cy="{ly - 3}" r="6" fill="none" stroke="#b00020" stroke-width="2"/>'
            f'<text x="{lx0 + 16}" y="{ly + 1}" font-size="11">failed (a gate or a rule)</text>'
        )


def pareto_svg(rs: list[Result], quality: str = "accuracy") -> str:
    """Quality (top-1, or the task's headline) against p50 latency, the Pareto frontier dashed."""
    pts = [
        (r, r.metrics["latency.p50_ms"], r.metrics[quality])
        for r in rs
        if isinstance(r.metrics.get("latency.p50_ms"), (int, float))
        and r.metrics["latency.p50_ms"] > 0
        and isinstance(r.metrics.get(quality), (int, float))
    ]
    if not pts:
        return f"<p class=meta>no item with both {escape(quality)} and latency to plot</p>"
    what = "top-1 accuracy" if quality == "accuracy" else quality
    fws = sorted({str(r.axes.get("framework")) for r, _, _ in pts})
    qs = sorted({str(r.axes.get("quantization")) for r, _, _ in pts})
    legend = max(text_width(t, 11) for t in [*fws, *qs, "failed (a gate or a rule)"])
    w, h, ml, mr, mt, mb = 720, 380, 60, int(max(170, legend + 36)), 20, 45
    w += mr - 170  # a long legend widens the chart, never clips
    lx = [math.log10(p[1]) for p in pts]
    x0, x1 = min(lx) - 0.05, max(lx) + 0.05
    span = max(p[2] for p in pts) - min(p[2] for p in pts)
    pad = 0.01 if quality == "accuracy" or span < 1 else span * 0.05
    y0, y1 = min(p[2] for p in pts) - pad, max(p[2] for p in pts) + pad
    if quality == "accuracy" or max(p[2] for p in pts) <= 1:
        y1 = min(1.0, y1)
    if y1 <= y0:
        y0, y1 = y0 - 0.05, y1 + 0.05

    def sx(v: float) -> float:
        return ml + (math.log10(v) - x0) / (x1 - x0 or 1) * (w - ml - mr)

    def sy(v: float) -> float:
        return mt + (y1 - v) / (y1 - y0) * (h - mt - mb)

    color = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(fws)}
    shape = {q: SHAPES[i % len(SHAPES)] for i, q in enumerate(qs)}
    out = [
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{escape(what)} versus latency">'
    ]
    for x, text in spaced([(sx(v), f"{v:g}") for v in log_ticks(x0, x1)], 10):  # 1-2-5 per decade, thinned
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt}" y2="{h - mb}" stroke="#eee"/>'
            f'<text class="tick" x="{x:.1f}" y="{h - mb + 14}" font-size="10" text-anchor="middle">{text}</text>'
        )
    yt = nice_ticks(y0, y1)
    for v in yt:
        out.append(
            f'<line x1="{ml}" x2="{w - mr}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#eee"/>'
            f'<text class="tick" x="{ml - 6}" y="{sy(v) + 3:.1f}" font-size="10" text-anchor="end">{v:.{_decimals(yt)}f}</text>'
        )
    kinds = " and ".join(sorted({_kind(r) for r, _, _ in pts}))
    out.append(
        f'<text x="{(ml + w - mr) / 2}" y="{h - 8}" font-size="12" text-anchor="middle">p50 latency, ms (log), '
        f"{escape(kinds)}</text>"
        f'<text x="14" y="{(mt + h - mb) / 2}" font-size="12" transform="rotate(-90 14 {(mt + h - mb) / 2})" '
        f'text-anchor="middle">{escape(what)}</text>'
    )
    frontier, best = [], -1.0
    for _r, lat, acc in sorted(pts, key=lambda p: (p[1], -p[2])):
        if acc > best:
            frontier.append((lat, acc))
            best = acc
    out.append(
        '<polyline fill="none" stroke="#999" stroke-dasharray="4 3" points="'
        + " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in frontier)
        + '"><title>Pareto frontier</title></polyline>'
    )
    failed = _points(out, pts, sx, sy, shape, color, what)
    _legend(out, w - mr + 16, mt + 10, fws, qs, color, shape, failed)
    out.append("</svg>")
    return "".join(out)


def _rank(sorted_values: list[float], p: float) -> float:
    """The nearest-rank percentile (the smallest value with at least p of the samples at or below it),
    as the README documents for the box plots."""
    n = len(sorted_values)
    return sorted_values[min(n - 1, max(0, math.ceil(p * n) - 1))]


def distributions_svg(rs: list[Result], limit: int = 60) -> str:
    rows: list[tuple[Result, float, float, float, float, float]] = []
    for r in rs:
        ns = sorted(r.samples.get("latency_ns") or [])
        if len(ns) >= 5:
            ms = [v / 1e6 for v in ns]
            rows.append((r, _rank(ms, 0.05), _rank(ms, 0.25), _rank(ms, 0.5), _rank(ms, 0.75), _rank(ms, 0.95)))
    if not rows:
        return "<p class=meta>no raw latency samples</p>"
    rows.sort(key=lambda t: t[3])
    more = len(rows) - limit
    rows = rows[:limit]
    names = [label(r) + (" (LoadGen queries)" if r.metrics.get("latency.measure") == "query" else "") for r, *_ in rows]
    ml, mr, rh = int(max(120, max(text_width(n, 11) for n in names) + 12)), 40, 16
    w = ml + 570 + mr  # the plot keeps its width; the longest item label widens the chart, never clipped
    h = 30 + rh * len(rows)
    lo = math.log10(min(t[1] for t in rows)) - 0.05
    hi = math.log10(max(t[5] for t in rows)) + 0.05

    def sx(v: float) -> float:
        return ml + (math.log10(v) - lo) / (hi - lo or 1) * (w - ml - mr)

    out = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="latency distributions">']
    for x, text in spaced([(sx(v), f"{v:g} ms") for v in log_ticks(lo, hi)], 10):
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="4" y2="{h - 18}" stroke="#eee"/>'
            f'<text class="tick" x="{x:.1f}" y="{h - 5}" font-size="10" text-anchor="middle">{text}</text>'
        )
    for i, ((r, p5, q1, med, q3, p95), name) in enumerate(zip(rows, names, strict=True)):
        y = 8 + rh * i
        out.append(
            f'<text class="item-label" x="{ml - 6}" y="{y + 10}" font-size="11" text-anchor="end">{escape(name)}</text>'
            f'<line x1="{sx(p5):.1f}" x2="{sx(p95):.1f}" y1="{y + 6}" y2="{y + 6}" stroke="#666"/>'
            f'<rect x="{sx(q1):.1f}" y="{y + 1}" width="{max(1.0, sx(q3) - sx(q1)):.1f}" height="10" '
            f'fill="#9ecae1" stroke="#3182bd"><title>{escape(label(r))} ({_kind(r)}): p5 {p5:.4g}, q1 {q1:.4g}, '
            f"median {med:.4g}, q3 {q3:.4g}, p95 {p95:.4g} ms</title></rect>"
            f'<line x1="{sx(med):.1f}" x2="{sx(med):.1f}" y1="{y}" y2="{y + 12}" stroke="#08519c" stroke-width="2"/>'
        )
    out.append("</svg>")
    if more > 0:
        out.append(f"<p class=meta>{more} more items not drawn</p>")
    return "".join(out)


def _tables(rs: list[Result]) -> list[str]:
    """One table and one quality-versus-latency chart per task (top-1 and mAP do not share an axis)."""
    groups = by_task(rs)
    out: list[str] = []
    for task, group in groups.items():
        quality = headline(task)
        if len(groups) > 1:
            out.append(f"<h3>{escape(task)} (ranked by {escape(score_of(group))})</h3>")
        out += [
            _table(group),
            f"<h3>{'Accuracy' if quality == 'accuracy' else escape(quality)} versus latency"
            + (f" ({escape(task)})" if len(groups) > 1 else "")
            + "</h3>",
            pareto_svg(group, quality),
        ]
    return out


def _table(rs: list[Result]) -> str:
    cols = columns(rs)
    head = "".join(f"<th>{escape(info.column)}</th>" for _, info in cols)
    body = []
    for _, r in ranked(rs):
        cells = []
        for name, info in cols:
            v = r.metrics.get(name)
            key = r.metrics.get(info.sort_by or name)
            sort_v = key if isinstance(key, (int, float)) and not isinstance(key, bool) else ""
            cells.append(f'<td data-v="{escape(str(sort_v))}">{escape(info.show(v))}</td>')
        reason = escape((r.reason or "").splitlines()[0][:200]) if r.outcome != "passed" and r.reason else ""
        busy = notes.busy(r)
        mark = f' <span class=busy title="{escape(busy)}">{notes.BUSY_MARK} host busy</span>' if busy else ""
        body.append(
            f'<tr class="{escape(r.outcome)}"><td class=l data-v="{escape(label(r))}">{escape(label(r))}</td>'
            + "".join(cells)
            + f'<td class=l data-v="{escape(r.outcome)}">{escape(r.outcome)}'
            + (f" — {reason}" if reason else "")
            + mark
            + "</td></tr>"
        )
    return (
        f"<table class=sortable><thead><tr><th class=l>item</th>{head}<th class=l>outcome</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _notes(rs: list[Result]) -> str:
    out = "".join(
        f"<p class=meta>{escape(text)}</p>" for text in (notes.latency_legend(rs), notes.busy_line(rs)) if text
    )
    invalid = notes.invalid_runs(rs)
    if invalid:
        out += (
            "<p>LoadGen INVALID runs:</p><ul class=invalid>"
            + "".join(f"<li><code>{escape(item)}</code>: {escape(why)}</li>" for item, why in invalid)
            + "</ul>"
        )
    return out


def _sort_value(v: Any) -> str:
    """A cell's sort key: the number itself (the shown text may be rounded or signed), else blank."""
    return escape(repr(float(v))) if isinstance(v, (int, float)) and not isinstance(v, bool) else ""


def _comparison(rs: list[Result]) -> str:
    rows = []
    for r in rs:
        for v in r.info.get("baseline", {}).get("verdicts", []):
            change = v.get("change")
            shown = "n/a" if change is None else (f"{change:+.1%}" if "%" in v["rule"] else f"{change:+.4g}")
            cls = ' class="bad"' if v.get("regressed") else ""
            rows.append(
                f"<tr><td class=l>{escape(label(r))}</td><td class=l>{escape(v['rule'])}</td>"
                f'<td data-v="{_sort_value(v.get("baseline"))}">{escape(fmt(v.get("baseline"), "{:.6g}"))}</td>'
                f'<td data-v="{_sort_value(v.get("current"))}">{escape(fmt(v.get("current"), "{:.6g}"))}</td>'
                f'<td{cls} data-v="{_sort_value(change)}">{escape(shown)}</td><td class=l{cls}>{"REGRESSION" if v.get("regressed") else "inconclusive" if v.get("inconclusive") else "ok"}'
                f" — {escape(v.get('evidence', ''))}</td></tr>"
            )
    if not rows:
        return ""
    return (
        "<h3>Compared with the baseline</h3><table class=sortable><thead><tr><th class=l>item</th><th class=l>rule</th>"
        "<th>baseline</th><th>current</th><th>change</th><th class=l>verdict</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def render(doc: dict[str, Any], results: list[Result], comparison: Comparison | None = None) -> str:
    machine = doc.get("machine", {})
    summaries = summarize(results)
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>pytest-aibench run {escape(str(doc.get('run_id', '')))}"
        f"</title><style>{CSS}</style></head><body><h1>pytest-aibench run {escape(str(doc.get('run_id', '')))}</h1>",
        f"<p class=meta>seed {escape(str(doc.get('seed')))} · profile {escape(str(doc.get('profile') or '(none)'))} · "
        f"{escape(str(machine.get('cpu', {}).get('model', '')))}, {escape(str(machine.get('cpu', {}).get('logical', '')))} "
        f"logical CPUs · Python {escape(str(machine.get('python', {}).get('version', '')))} · commit "
        f"{escape(str(machine.get('git', {}).get('commit', 'n/a')))}</p>",
    ]
    if notes.busy_summary(results):
        parts.append(
            f"<p class=bad>{escape(str(notes.busy_summary(results)))}: other processes took the CPU "
            "(marked in the tables); their latencies are not comparable</p>"
        )
    for m in doc.get("manifests", []):
        parts.append(
            f"<p class=meta>manifest {escape(str(m.get('path')))} ({escape(str(m.get('suite')))} "
            f"{escape(str(m.get('version')))}) sha256 {escape(str(m.get('sha256')))}</p>"
        )
    if comparison:
        parts.append(
            f"<p>Compared with <code>{escape(comparison.baseline)}</code>: {comparison.matched} matched, "
            f"<span{' class=bad' if comparison.regressions else ''}>{len(comparison.regressions)} regressed</span>, "
            f"{len(comparison.new)} new, "
            f"{len(comparison.missing)} missing.</p>"
        )
        for note in comparison.machine:
            parts.append(f"<p class=meta>machine differs: {escape(note)}</p>")
    for suite, rs in by_suite(results).items():
        s = summaries[suite]
        scores = "; ".join(
            f"{k.upper()} total {s[f'{k}_total']:.1f} (mean {s[f'{k}_mean']:.1f})"
            for k in ("vips", "vops")
            if s.get(f"{k}_total") is not None
        )
        parts += [
            f"<h2>{escape(suite)} {escape(str(s['version']))}</h2>",
            f"<p>{s['items']} items: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
            f"{s['error']} errors. {escape(scores)}</p>",
            *_tables(rs),
            _notes(rs),
            "<h3>Latency distributions (p5, quartiles, median, p95)</h3>",
            distributions_svg(rs),
            _comparison(rs),
        ]
    parts.append(paired.html_section(results))
    parts.append(f"<script>{JS}</script></body></html>")
    return "\n".join(parts)
