"""Per-suite aggregates, as AIoTBench aggregates: VIPS and VOPS summed over workloads, plus the mean
per workload (so runs of different sizes compare), overall and per runtime."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pytest_aibench.core.result import Result

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


def _search(rs: list[Result]) -> dict[str, Any]:
    """AutoML suites: the best valid accuracy found as trials completed (arrival order, with the trial
    seconds spent so far; under xdist, trials run in parallel) and the operations spent training."""
    trials = [r for r in rs if isinstance(r.metrics.get("trial.accuracy"), (int, float))]
    if not trials:
        return {}
    best, ops, spent, curve = 0.0, 0.0, 0.0, []
    for n, r in enumerate(trials, 1):
        ops += float(r.metrics.get("trial.train_flops") or 0)
        spent += float(r.metrics.get("trial.wall_s") or 0)
        best = max(best, r.metrics["trial.accuracy"] if r.outcome == "passed" else 0.0)
        curve.append({"trial": n, "trial_seconds": round(spent, 3), "train_flops": ops, "best_accuracy": best})
    return {
        "search": {
            "trials": len(trials),
            "valid_trials": sum(r.outcome == "passed" for r in trials),
            "best_accuracy": best,
            "total_train_flops": ops,
            "total_trial_seconds": round(spent, 3),
            "best_over_time": curve,
        }
    }


def summarize(results: list[Result]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for suite, rs in by_suite(results).items():
        counts = Counter(r.outcome for r in rs)
        runtimes: dict[str, list[Result]] = {}
        for r in rs:
            runtimes.setdefault(str(r.axes.get("framework")), []).append(r)
        out[suite] = {
            "version": rs[0].suite_version,
            "items": len(rs),
            "measured": sum(r.measured for r in rs),
            **{k: counts.get(k, 0) for k in ("passed", "failed", "skipped", "error")},
            "vips_total": None,
            "vips_mean": None,
            "vips_items": 0,
            **_totals(rs),
            "by_runtime": {fw: _totals(group) for fw, group in runtimes.items() if _totals(group)},
            **_search(rs),
        }
    return out
