"""``seeds: N``: a learning paradigm run over N seeds, its metrics the mean with a confidence interval.

A learning result (federated, lifelong, incremental, a search) moves by points from one seed to the
next, so one seed cannot tell a better link or algorithm from luck. Each seed is derived from the item's
own seed, which comes from model, dataset and paradigm only (common random numbers), so every compared
condition runs the very same N seeds and a difference can be judged against their spread.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

#: Student's t, two-sided 95 %, for 1..30 degrees of freedom (beyond: the normal 1.96)
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)

#: the metrics whose interval over seeds is reported (others are averaged)
HEADLINES = (
    "accuracy",
    "fl.final_accuracy",
    "ll.average_accuracy",
    "il.final_accuracy",
    "aiperf.best_accuracy",
    "trial.accuracy",
    "stl.accuracy",
)


def t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def seed_list(base: int, n: int) -> list[int]:
    """The item's seed first, then N-1 derived from it (the same for every condition sharing ``base``)."""
    extra = np.random.SeedSequence([int(base) % 2**63, 7919]).generate_state(max(0, n - 1), dtype=np.uint32)
    return [int(base), *(int(s) for s in extra)]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def interval(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation and the 95 % Student-t interval of the mean."""
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    half = t975(len(values) - 1) * sd / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, sd, mean - half, mean + half


def combine(per_seed: list[dict[str, Any]], seeds: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metrics of N seeded runs as one: numbers every run has become their mean; the headline metrics
    get ``seeds.<name>_sd`` / ``_ci_low`` / ``_ci_high``; anything else is the first seed's. Returns the
    metrics and the ``info.seeds`` record (each seed's figures)."""
    first = dict(per_seed[0])
    out = dict(first)
    for key, value in first.items():
        values = [m.get(key) for m in per_seed]
        if _number(value) and all(_number(v) for v in values):
            out[key] = statistics.fmean(float(v) for v in values)  # type: ignore[arg-type]
    out["seeds.n"] = len(per_seed)
    for key in HEADLINES:
        values = [m.get(key) for m in per_seed]
        if all(_number(v) for v in values):
            mean, sd, lo, hi = interval([float(v) for v in values])  # type: ignore[arg-type]
            safe = key.replace(".", "_")
            out |= {f"seeds.{safe}_sd": sd, f"seeds.{safe}_ci_low": lo, f"seeds.{safe}_ci_high": hi}
    record = {
        "seeds": seeds,
        "method": "mean over seeds; 95 % Student-t interval of the mean",
        "per_seed": [{k: m.get(k) for k in HEADLINES if k in m} for m in per_seed],
    }
    return out, record
