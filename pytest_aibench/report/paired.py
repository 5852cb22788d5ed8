"""The paired comparison (``--aibench-against``) rendered for the terminal, Markdown and HTML.

Pure functions of the results (the ``aibench`` command reuses them on a saved run): one row per
item and rule with both sides' figures, the ratio, its interval and the outcome, and the counts of
REGRESSED, SAME, UNKNOWN (inconclusive) and not compared items.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from pytest_aibench.core.result import Result
from pytest_aibench.core.verdict import LEVEL, REGRESSED, SAME, UNKNOWN
from pytest_aibench.report.ranking import label
from pytest_aibench.report.terminal import table

NOT_COMPARED = "not compared"
OUTCOMES = (REGRESSED, UNKNOWN, SAME, NOT_COMPARED)


@dataclass(frozen=True)
class Row:
    item: str
    rule: str
    outcome: str
    reference: str  # the reference side's figure, shown
    candidate: str
    ratio: str
    interval: str
    pairs: str
    seconds: str
    note: str


def _num(value: Any, spec: str = "{:.4g}") -> str:
    return spec.format(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def _rows_of(r: Result, info: dict[str, Any]) -> list[Row]:
    shown = label(r)
    if info.get("status") != "compared":
        why = str(info.get("status", NOT_COMPARED)).removeprefix("not compared: ")
        return [Row(shown, "", NOT_COMPARED, "", "", "", "", "", "", why)]
    rows = []
    for v in info.get("verdicts", []):
        timed = v.get("ratio") is not None
        interval = f"[{v['ci_low']:.3f}, {v['ci_high']:.3f}]" if v.get("ci_low") is not None else ""
        rows.append(
            Row(
                shown,
                str(v.get("rule", "")),
                str(v.get("outcome", UNKNOWN)),
                _num(v.get("reference_ms")) + " ms" if timed else _num(v.get("reference_value"), "{:.6g}"),
                _num(v.get("candidate_ms")) + " ms" if timed else _num(v.get("candidate_value"), "{:.6g}"),
                _num(v.get("ratio"), "{:.3f}"),
                interval,
                str(v.get("pairs") or "") if timed else "",
                _num(v.get("seconds"), "{:.1f}") if timed else "",
                str(v.get("why") or ""),
            )
        )
    return rows


def paired_rows(results: list[Result]) -> tuple[str | None, list[Row], dict[str, int]]:
    """REF, one row per item and rule, and the count of items by their worst outcome."""
    ref = None
    rows: list[Row] = []
    counts = dict.fromkeys(OUTCOMES, 0)
    for r in results:
        info = r.info.get("against")
        if not info:
            continue
        ref = ref or str(info.get("ref"))
        mine = _rows_of(r, info)
        rows += mine
        worst = next(o for o in OUTCOMES if any(row.outcome == o for row in mine) or o == NOT_COMPARED)
        counts[worst] += 1
    return ref, rows, counts


def headline(ref: str, counts: dict[str, int]) -> str:
    done = sum(counts[o] for o in (REGRESSED, SAME, UNKNOWN))
    items = "item" if done == 1 else "items"
    return (
        f"paired against {ref}: {done} {items} measured side by side, {counts[REGRESSED]} REGRESSED, "
        f"{counts[SAME]} SAME, {counts[UNKNOWN]} UNKNOWN (inconclusive), {counts[NOT_COMPARED]} not compared; "
        f"ratio = candidate / reference of the rule's statistic, {LEVEL:.0%} interval over session pairs"
    )


HEADERS = ["item", "rule", "outcome", "reference", "candidate", "ratio", "interval", "pairs", "s"]


def _cells(row: Row) -> list[str]:
    return [
        row.item,
        row.rule,
        row.outcome,
        row.reference,
        row.candidate,
        row.ratio,
        row.interval,
        row.pairs,
        row.seconds,
    ]


def _where(side: dict[str, Any]) -> str:
    options = side.get("runtime_options") or {}
    shown = "; ".join(f"{runner} {opts}" for runner, opts in options.items() if opts)
    return f"device {side.get('device') or 'cpu'}" + (f", {shown}" if shown else "")


def platform_notes(results: list[Result]) -> list[str]:
    """One line per item whose two sides computed differently (device or runtime options)."""
    out = []
    for r in results:
        pair = (r.info.get("against") or {}).get("platform") or {}
        if pair.get("differs"):
            out.append(
                f"{label(r)}: reference on {_where(pair['reference'])}; candidate on {_where(pair['candidate'])}"
            )
    return out


def terminal_lines(results: list[Result]) -> list[str]:
    ref, rows, counts = paired_rows(results)
    if ref is None:
        return []
    out = [headline(ref, counts)]
    out += table(HEADERS, [_cells(r) for r in rows if r.outcome != NOT_COMPARED], {3, 4, 5, 7, 8})
    out += [f"  {r.outcome.upper()} {r.item}: {r.note}" for r in rows if r.outcome in (UNKNOWN, NOT_COMPARED)]
    out += [f"  compares where it computes: {note}" for note in platform_notes(results)]
    return out


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_lines(results: list[Result]) -> list[str]:
    ref, rows, counts = paired_rows(results)
    if ref is None:
        return []
    out = [
        f"### Paired against `{_md(ref)}`",
        "",
        _md(headline(ref, counts)),
        "",
        "| " + " | ".join(HEADERS) + " | note |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for row in rows:
        cells = _cells(row)
        cells[0] = f"`{_md(cells[0])}`"
        cells[2] = f"**{row.outcome}**" if row.outcome in (REGRESSED, UNKNOWN) else row.outcome
        out.append("| " + " | ".join(_md(c) if i else c for i, c in enumerate(cells)) + f" | {_md(row.note)} |")
    notes = platform_notes(results)
    return out + ([""] + [f"- compares where it computes: {_md(n)}" for n in notes] if notes else []) + [""]


def html_section(results: list[Result]) -> str:
    ref, rows, counts = paired_rows(results)
    if ref is None:
        return ""
    body = []
    for row in rows:
        cls = ' class="bad"' if row.outcome in (REGRESSED, UNKNOWN) else ""
        cells = _cells(row)
        tds = "".join(
            f'<td class=l data-v="{escape(c)}">{escape(c)}</td>'
            if i in (0, 1, 2, 6)
            else f'<td data-v="{escape(c.removesuffix(" ms"))}">{escape(c)}</td>'
            for i, c in enumerate(cells)
        )
        body.append(f"<tr{cls}>{tds}<td class=l>{escape(row.note)}</td></tr>")
    heads = "".join(f"<th{' class=l' if i in (0, 1, 2, 6) else ''}>{escape(h)}</th>" for i, h in enumerate(HEADERS))
    notes = "".join(f"<li>compares where it computes: {escape(n)}</li>" for n in platform_notes(results))
    return (
        f"<h2>Paired against <code>{escape(ref)}</code></h2><p>{escape(headline(ref, counts))}</p>"
        f"<table class=sortable><thead><tr>{heads}<th class=l>note</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>" + (f"<ul>{notes}</ul>" if notes else "")
    )
