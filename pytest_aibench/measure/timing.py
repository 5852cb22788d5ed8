"""The timing loop: as little as possible between two clock reads; and an explicit warm-up policy."""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

#: "stable" warm-up: windows of this many calls, done when two consecutive window medians agree
STABLE_WINDOW = 20
STABLE_TOLERANCE = 0.02
STABLE_MAX_CALLS = 2000
STABLE_MAX_SECONDS = 10.0


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


def time_calls(fn: Callable[[Any], Any], inputs: Sequence[Any], warmup: int, samples: int) -> list[int]:
    """Call ``fn`` on ``inputs`` (cycled) ``warmup`` times untimed, then ``samples`` times timed.

    Inputs are prepared by the caller so no slicing or conversion lands inside the timed region;
    the garbage collector and any tracer or profiler are paused so neither lands inside a sample.
    """
    n = len(inputs)
    clock = time.perf_counter_ns
    out = [0] * samples
    was_enabled = gc.isenabled()
    gc.collect()
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


def warm_up(fn: Callable[[Any], Any], inputs: Sequence[Any], policy: int | str) -> dict[str, Any]:
    """Run the warm-up ``policy`` (a count, or "stable") and return what was done, for the record.

    "stable" times windows of calls until two consecutive window medians differ by less than
    ``STABLE_TOLERANCE``, or a call or time cap is reached (then ``stable`` is False)."""
    if policy != "stable":
        time_calls(fn, inputs, int(policy), 0)
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
