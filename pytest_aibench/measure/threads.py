"""Which of the process's threads were busy during the timed calls: per-thread CPU time (Linux's
nanosecond per-thread clocks) before and after. A runtime asked for 2 threads whose second one idles
passively shows 1 busy thread; a thread that spin-waits burns CPU without doing work and counts as busy
(ORT and torch spin unless ``spin_wait`` turns it off; LiteRT's XNNPACK pool always spins a while), so
the CPU seconds of each thread are recorded beside the count.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pytest_aibench._lazy import lazy

psutil = lazy("psutil")  # read while measuring; a manifest's validation imports this module too


T = TypeVar("T")

#: a thread counts as working when its CPU time is at least this share of the timed region's wall time
ACTIVE_SHARE = 0.10


def _thread_clock(tid: int) -> int:
    """Linux's CPU-time clock of thread ``tid`` of this process (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)):
    nanoseconds, where /proc's per-thread times tick in 10 ms, longer than a fast model's whole timing."""
    return ((~tid) << 3) | 6


def _cpu_by_thread() -> dict[int, float]:
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
        return {t: time.clock_gettime_ns(_thread_clock(t)) / 1e9 for t in tids}
    except (OSError, ValueError, AttributeError):  # not Linux, or a thread ended between list and read
        pass
    try:
        return {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}
    except (psutil.Error, OSError):
        return {}


def watch(timed: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, dict[str, Any]]:
    """Run ``timed(*args, **kwargs)`` and say how many threads were busy in it (CPU seconds, busiest first)."""
    before = _cpu_by_thread()
    start = time.perf_counter()
    out = timed(*args, **kwargs)
    wall = time.perf_counter() - start
    after = _cpu_by_thread()
    used = sorted((after[t] - before.get(t, 0.0) for t in after), reverse=True)
    if not used or wall <= 0:
        return out, {}
    active = [u for u in used if u >= ACTIVE_SHARE * wall]
    return out, {
        "active": len(active),
        "cpu_s": [round(u, 4) for u in active],
        "wall_s": round(wall, 4),
        "rule": f"threads with CPU time >= {ACTIVE_SHARE:.0%} of the timed calls' wall time",
    }
