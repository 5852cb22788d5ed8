"""Summary statistics of raw latency samples (pure numpy, no pytest)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np


def percentile(sorted_values: Sequence[float] | np.ndarray, q: float) -> float:
    """Nearest-rank percentile (the smallest value with at least q % of samples at or below it):
    the convention of latency SLOs and MLPerf, never interpolated below an observed value."""
    if len(sorted_values) == 0:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summarize_ns(samples_ns: Sequence[int], per: int = 1) -> dict[str, float]:
    """Latency summary in milliseconds per timed call (``per`` samples each): one numpy sort."""
    if len(samples_ns) == 0:
        return {}
    ms = np.sort(np.asarray(samples_ns, dtype=np.float64)) / 1e6
    n = len(ms)
    return {
        "latency.p50_ms": percentile(ms, 50),
        "latency.p90_ms": percentile(ms, 90),
        "latency.p99_ms": percentile(ms, 99),
        "latency.mean_ms": float(ms.mean()),
        "latency.stdev_ms": float(ms.std(ddof=1)) if n > 1 else 0.0,
        "latency.min_ms": float(ms[0]),
        "latency.max_ms": float(ms[-1]),
        "latency.samples": n,
        "latency.batch": per,
    }


def bootstrap_ci(
    samples: Sequence[float], q: float, *, level: float = 0.95, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the nearest-rank ``q``-th percentile.

    Resampling is seeded (the item's seed), so the same samples always give the same interval.
    Resamples are drawn in chunks so memory stays bounded for long runs.
    """

    x = np.asarray(samples, dtype=np.float64)
    n = len(x)
    if n < 2:
        v = float(x[0]) if n else math.nan
        return v, v
    rng = np.random.default_rng(seed)
    rank = max(1, math.ceil(q / 100.0 * n)) - 1
    stats = np.empty(resamples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        draw = np.sort(x[rng.integers(0, n, size=(stop - start, n))], axis=1)
        stats[start:stop] = draw[:, rank]
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(stats, [tail, 100.0 - tail])
    return float(lo), float(hi)


def outliers(samples: Sequence[float]) -> int:
    """Samples outside Tukey's fences (1.5 interquartile ranges beyond the quartiles)."""
    if len(samples) < 4:
        return 0
    s = sorted(samples)
    q1, q3 = percentile(s, 25), percentile(s, 75)
    iqr = q3 - q1
    return sum(1 for v in s if v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr)


def robustness(samples_ns: Sequence[int], seed: int = 0) -> dict[str, float]:
    """95 % intervals of the median and p99 (distribution-free, from order statistics: the exact
    counterpart of a percentile bootstrap at the cost of one sort, where 1,000 resamples cost several
    times the calls they summarise), coefficient of variation and outlier count. ``seed`` is kept for
    callers; nothing here is random."""
    if len(samples_ns) < 2:
        return {}
    ms = np.sort(np.asarray(samples_ns, dtype=np.float64)) / 1e6
    mean = float(ms.mean())
    sd = float(ms.std(ddof=1))
    p50 = order_statistic_ci(ms, 50, presorted=True)
    p99 = order_statistic_ci(ms, 99, presorted=True)
    q1, q3 = percentile(ms, 25), percentile(ms, 75)
    iqr = q3 - q1
    return {
        "latency.p50_ci_low_ms": p50[0],
        "latency.p50_ci_high_ms": p50[1],
        "latency.p99_ci_low_ms": p99[0],
        "latency.p99_ci_high_ms": p99[1],
        "latency.cv": sd / mean if mean > 0 else 0.0,
        "latency.outliers": int(np.count_nonzero((ms < q1 - 1.5 * iqr) | (ms > q3 + 1.5 * iqr))) if len(ms) >= 4 else 0,
    }


def order_statistic_ci(
    samples: Sequence[float] | np.ndarray, q: float, level: float = 0.95, presorted: bool = False
) -> tuple[float, float]:
    """Distribution-free confidence interval of the ``q``-th percentile from order statistics: the
    number of samples below the true percentile is Binomial(n, q/100). Exact where the percentile
    bootstrap is too narrow (the tail: a p99 of 200 samples rests on its two largest)."""
    x = samples if presorted else sorted(samples)
    n = len(x)
    if n < 2:
        v = float(x[0]) if n else math.nan
        return v, v
    p, alpha = q / 100.0, (1.0 - level) / 2
    if n <= 1000:
        cdf, k, lo, hi = 0.0, 0, None, n - 1
        for k in range(n + 1):
            cdf += math.comb(n, k) * p**k * (1 - p) ** (n - k)
            if lo is None and cdf > alpha:
                lo = max(k - 1, 0)
            if cdf >= 1 - alpha:
                hi = min(k, n - 1)
                break
        lo = 0 if lo is None else lo
    else:  # normal approximation to the binomial
        sd = math.sqrt(n * p * (1 - p))
        z = statistics.NormalDist().inv_cdf(1 - alpha)
        lo, hi = max(int(math.floor(n * p - z * sd)) - 1, 0), min(int(math.ceil(n * p + z * sd)), n - 1)
    return float(x[lo]), float(x[hi])
