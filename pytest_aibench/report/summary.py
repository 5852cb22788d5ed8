"""Per-suite aggregates, as AIoTBench aggregates: VIPS summed over workloads, plus the mean per
workload so runs of different sizes compare."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .result import Result


def by_suite(results: list[Result]) -> dict[str, list[Result]]:
    out: dict[str, list[Result]] = {}
    for r in results:
        out.setdefault(r.suite, []).append(r)
    return out


def summarize(results: list[Result]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for suite, rs in by_suite(results).items():
        vips = [r.metrics["vips"] for r in rs if isinstance(r.metrics.get("vips"), (int, float))]
        counts = Counter(r.outcome for r in rs)
        out[suite] = {
            "version": rs[0].suite_version, "items": len(rs), "measured": sum(r.measured for r in rs),
            **{k: counts.get(k, 0) for k in ("passed", "failed", "skipped", "error")},
            "vips_total": sum(vips) if vips else None, "vips_mean": sum(vips) / len(vips) if vips else None,
            "vips_items": len(vips),
        }
    return out
