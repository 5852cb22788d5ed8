"""The timing loop: as little as possible between two clock reads; and an explicit warm-up policy."""

from __future__ import annotations

import gc
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

#: "stable" warm-up: windows of this many calls, done when two consecutive window medians agree
STABLE_WINDOW = 20
STABLE_TOLERANCE = 0.02
STABLE_MAX_CALLS = 2000
STABLE_MAX_SECONDS = 10.0
#: the generations collected before a warm-up: the young ones, never the whole heap (see :func:`time_calls`)
YOUNG = 1


@contextmanager
def paused_instrumentation() -> Iterator[None]:
    """No tracer or profiler (coverage, a debugger, cProfile) runs while calls are timed: they would
    add their own cost to every Python-level call of the runner. Restored afterwards, as
    pytest-benchmark's PauseInstrumentation does."""
    tracer, profiler = sys.gettrace(), sys.getprofile()
    sys.settrace(None)
    sys.setprofile(None)
    try:
        yield
    finally:
        sys.settrace(tracer)
        sys.setprofile(profiler)


def time_calls(
    fn: Callable[[Any], Any], inputs: Sequence[Any], warmup: int, samples: int, collect: bool = True
) -> list[int]:
    """Call ``fn`` on ``inputs`` (cycled) ``warmup`` times untimed, then ``samples`` times timed.

    Inputs are prepared by the caller so no slicing or conversion lands inside the timed region;
    the garbage collector and any tracer or profiler are paused so neither lands inside a sample.
    ``collect``: the young generations collected first (what the item's setup and the calls before left);
    timing that follows a warm-up passes False, since a collection between warm-up and timing evicts the
    caches the warm-up filled (1.5-2.5 % of a small model's p50). Not a full collection: with the collector
    paused while timing, old garbage cannot land in a sample, and walking the old generation of a process
    that imported torch and loaded programs took 230-310 ms a time (a fifth of ``suites/aiot``'s wall).
    """
    n = len(inputs)
    clock = time.perf_counter_ns
    out = [0] * samples
    was_enabled = gc.isenabled()
    if collect:
        gc.collect(YOUNG)
    gc.disable()
    try:
        with paused_instrumentation():
            for i in range(warmup):
                fn(inputs[i % n])
            for i in range(samples):
                x = inputs[i % n]
                t0 = clock()
                fn(x)
                out[i] = clock() - t0
    finally:
        if was_enabled:
            gc.enable()
    return out


def warm_up(
    fn: Callable[[Any], Any], inputs: Sequence[Any], policy: int | str, times: list[int] | None = None
) -> dict[str, Any]:
    """Run the warm-up ``policy`` (a count, or "stable") and return what was done, for the record.

    "stable" times windows of calls until two consecutive window medians differ by less than
    ``STABLE_TOLERANCE``, or a call or time cap is reached (then ``stable`` is False)."""
    if policy != "stable":  # the warm-up calls timed too (free), into ``times`` where the caller wants them
        got = time_calls(fn, inputs, 0, int(policy))
        if times is not None:
            times.extend(got)
        return {"policy": "count", "calls": int(policy)}
    start = time.perf_counter()
    previous: float | None = None
    calls = 0
    while calls < STABLE_MAX_CALLS and time.perf_counter() - start < STABLE_MAX_SECONDS:
        median = statistics.median(time_calls(fn, inputs, 0, STABLE_WINDOW))
        calls += STABLE_WINDOW
        if previous is not None and abs(median - previous) <= STABLE_TOLERANCE * previous:
            return {"policy": "stable", "calls": calls, "stable": True, "tolerance": STABLE_TOLERANCE}
        previous = median
    return {"policy": "stable", "calls": calls, "stable": False, "tolerance": STABLE_TOLERANCE}


#: untimed calls right before a timed stretch fill at least this long: after other code ran (the host
#: canary, a new session's setup) a 40 µs model's calls were 3 % slow for 40 calls and steady after ~120
#: (5 ms) on a 2-vCPU Zen 3, while its first call alone took 4x; a slow model settles in one call
SETTLE_S = 0.005
SETTLE_MAX_CALLS = 10_000


def settle(fn: Callable[[Any], Any], inputs: Sequence[Any], per_call_ns: float, done_ns: float = 0.0) -> int:
    """Untimed calls until ``SETTLE_S`` of them (counting ``done_ns`` of calls just made) precede the timed
    ones, at ``per_call_ns`` each; how many were made."""
    need = SETTLE_S * 1e9 - done_ns
    n = 0 if need <= 0 or per_call_ns <= 0 else min(math.ceil(need / per_call_ns), SETTLE_MAX_CALLS)
    if n:
        time_calls(fn, inputs, n, 0, collect=False)
    return n


#: adaptive sampling: the first batch of calls, growth per check, and the smallest run that may stop
ADAPTIVE_GROWTH = 0.5


def ci_fraction(value: float | str | None) -> float | None:
    """``latency_ci`` as a fraction: "0.5%" -> 0.005, 0.005 -> 0.005, None -> None (fixed sample count)."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(value.strip().rstrip("%")) / 100.0
    return float(value)


@dataclass(frozen=True)
class Adaptive:
    """``latency_ci``: time until the median's 95 % interval has a half-width within ``target`` of the
    median (relative), with at least ``min_samples`` and at most ``max_samples`` calls, within ``max_s``."""

    target: float
    min_samples: int = 100
    max_samples: int = 100_000
    max_s: float = 10.0


def median_half_width(samples: Sequence[int]) -> float:
    """The half-width of the median's distribution-free 95 % interval (order statistics), relative to
    the median: one sort, no resampling, so checking it as calls accumulate costs little."""
    x = np.sort(np.asarray(samples, dtype=np.int64))
    n = len(x)
    if n < 2:
        return math.inf
    spread = 1.959964 * math.sqrt(n) / 2  # ranks n/2 ± z sqrt(n p (1-p)), p = 1/2
    lo, hi = max(int(math.floor(n / 2 - spread)) - 1, 0), min(int(math.ceil(n / 2 + spread)), n - 1)
    median = float(x[(n - 1) // 2])
    return (float(x[hi]) - float(x[lo])) / 2 / median if median > 0 else math.inf


def time_until(
    fn: Callable[[Any], Any], inputs: Sequence[Any], rule: Adaptive, warm: int = 1
) -> tuple[list[int], dict[str, Any]]:
    """Timed calls in growing batches until ``rule`` is met, a cap is reached, or the time is up; the
    samples and what was reached. The interval is checked after each batch (batches grow by half the
    samples so far, so the checks cost O(n log n) in all), and a batch is cut to what the time left allows."""
    start = time.perf_counter()
    samples = time_calls(fn, inputs, warm, min(rule.min_samples, rule.max_samples), collect=False)
    while True:
        half = median_half_width(samples)
        n = len(samples)
        elapsed = time.perf_counter() - start
        if half <= rule.target:
            stop = "reached"
        elif n >= rule.max_samples:
            stop = "max_samples"
        elif elapsed >= rule.max_s:
            stop = "time_cap"
        else:
            per_call = elapsed / n
            fits = int((rule.max_s - elapsed) / per_call) if per_call > 0 else rule.max_samples
            more = max(1, min(int(n * ADAPTIVE_GROWTH) or 1, rule.max_samples - n, fits))
            samples += time_calls(fn, inputs, 0, more, collect=False)
            continue
        return samples, {
            "target": rule.target,
            "half_width": half,
            "stop": stop,
            "samples": n,
            "seconds": round(elapsed, 3),
        }


def adaptive_metrics(samples: Sequence[int], rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The item's adaptive-sampling figures: the target, the half-width over every round's samples, and
    ``reached`` only where every round reached the target (else the first cap that stopped one)."""
    stops = [r["stop"] for r in rounds]
    return {
        "latency.ci_target": rounds[0]["target"],
        "latency.ci_half_width": median_half_width(samples),
        "latency.ci_stop": "reached"
        if all(x == "reached" for x in stops)
        else next(x for x in stops if x != "reached"),
    }


#: a warm-up call counts as still warming while it is this much slower than the round's timed median
WARMING_FACTOR = 1.5


def needed_warmup(times_ns: Sequence[int], steady_ns: float) -> int:
    """The warm-up a fresh session of this runtime needs, measured on the first round: one past the last
    warm-up call slower than ``WARMING_FACTOR`` x the steady median (at least 1: the first call's setup)."""
    slow = [i for i, t in enumerate(times_ns) if t > WARMING_FACTOR * steady_ns]
    return max(1, (slow[-1] + 1) if slow else 1)
