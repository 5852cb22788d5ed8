"""Per-suite aggregates, as AIoTBench aggregates: VIPS and VOPS summed over workloads, plus the mean
per workload (so runs of different sizes compare), overall and per runtime."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .result import Result

SCORES = ("vips", "vops")


def by_suite(results: list[Result]) -> dict[str, list[Result]]:
    out: dict[str, list[Result]] = {}
    for r in results:
        out.setdefault(r.suite, []).append(r)
    return out


def _totals(rs: list[Result]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for score in SCORES:
        values = [r.metrics[score] for r in rs if isinstance(r.metrics.get(score), (int, float))]
        if values:
            out[f"{score}_total"] = sum(values)
            out[f"{score}_mean"] = sum(values) / len(values)
            out[f"{score}_items"] = len(values)
    return out


def summarize(results: list[Result]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for suite, rs in by_suite(results).items():
        counts = Counter(r.outcome for r in rs)
        runtimes: dict[str, list[Result]] = {}
        for r in rs:
            runtimes.setdefault(str(r.axes.get("framework")), []).append(r)
        out[suite] = {
            "version": rs[0].suite_version, "items": len(rs), "measured": sum(r.measured for r in rs),
            **{k: counts.get(k, 0) for k in ("passed", "failed", "skipped", "error")},
            "vips_total": None, "vips_mean": None, "vips_items": 0,
            **_totals(rs),
            "by_runtime": {fw: _totals(group) for fw, group in runtimes.items() if _totals(group)},
        }
    return out
