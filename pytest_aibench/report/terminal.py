"""The terminal leaderboard, rendered to lines (no pytest: the ``aibench`` command reuses it)."""

from __future__ import annotations

from typing import Any

from .result import Result
from .summary import by_suite, summarize

COLUMNS = (("accuracy", "acc", "{:.4f}"), ("latency.p50_ms", "p50 ms", "{:.3f}"), ("latency.p99_ms", "p99 ms", "{:.3f}"),
           ("throughput.ips", "items/s", "{:.1f}"), ("vips", "VIPS", "{:.1f}"))


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return spec.format(value)


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _label(r: Result) -> str:
    return r.id.split("::", 1)[1] if "::" in r.id else r.id


def leaderboard(results: list[Result]) -> list[str]:
    """One table per suite sorted by VIPS (unmeasured items last, with their outcome and reason)."""
    out: list[str] = []
    summaries = summarize(results)
    for suite, rs in by_suite(results).items():
        s = summaries[suite]
        ranked = sorted(rs, key=lambda r: (not isinstance(r.metrics.get("vips"), (int, float)),
                                           -(r.metrics.get("vips") or 0.0), r.id))
        rows = []
        rank = 0
        for r in ranked:
            measured = isinstance(r.metrics.get("vips"), (int, float)) or r.measured
            rank += measured
            mark = "*" if any(f.startswith("concurrent") for f in r.flags) else ""
            cells = [str(rank) if measured else "", _label(r) + mark]
            cells += [_fmt(r.metrics.get(k), spec) for k, _, spec in COLUMNS]
            status = r.outcome if r.outcome != "passed" else ""
            if r.reason and r.outcome != "passed":
                status += ": " + r.reason.splitlines()[0][:90]
            rows.append(cells + [status])
        version = f" {s['version']}" if s["version"] else ""
        out.append(f"aibench leaderboard: {suite}{version} ({s['items']} items: {s['passed']} passed, "
                   f"{s['failed']} failed, {s['skipped']} skipped, {s['error']} errors)")
        out += table(["#", "item", *(h for _, h, _ in COLUMNS), "outcome"], rows, {0, 2, 3, 4, 5, 6})
        if s["vips_total"] is not None:
            out.append(f"VIPS total {s['vips_total']:.1f} over {s['vips_items']} measured items "
                       f"(mean per workload {s['vips_mean']:.1f})")
        if any(any(f.startswith("concurrent") for f in r.flags) for r in rs):
            out.append("* latency measured while other xdist workers ran: compare it with care")
        out.append("")
    return out
