"""Summary statistics of raw latency samples (pure numpy, no pytest)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the smallest value with at least q % of samples at or below it):
    the convention of latency SLOs and MLPerf, never interpolated below an observed value."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summarize_ns(samples_ns: Sequence[int], per: int = 1) -> dict[str, float]:
    """Latency summary in milliseconds per timed call (``per`` samples each)."""
    if not samples_ns:
        return {}
    ms = sorted(s / 1e6 for s in samples_ns)
    n = len(ms)
    mean = sum(ms) / n
    var = sum((x - mean) ** 2 for x in ms) / (n - 1) if n > 1 else 0.0
    return {
        "latency.p50_ms": percentile(ms, 50),
        "latency.p90_ms": percentile(ms, 90),
        "latency.p99_ms": percentile(ms, 99),
        "latency.mean_ms": mean,
        "latency.stdev_ms": math.sqrt(var),
        "latency.min_ms": ms[0],
        "latency.max_ms": ms[-1],
        "latency.samples": n,
        "latency.batch": per,
    }
