"""The timing loop: as little as possible between two clock reads."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import Any


def time_calls(fn: Callable[[Any], Any], inputs: Sequence[Any], warmup: int, samples: int) -> list[int]:
    """Call ``fn`` on ``inputs`` (cycled) ``warmup`` times untimed, then ``samples`` times timed.

    Inputs are prepared by the caller so no slicing or conversion lands inside the timed region;
    the garbage collector is paused so a collection never lands inside a sample.
    """
    n = len(inputs)
    clock = time.perf_counter_ns
    out = [0] * samples
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
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
