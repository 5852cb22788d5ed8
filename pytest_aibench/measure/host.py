"""How busy, and how fast, the host was while an item was timed.

A latency regression gate must not blame the code for the machine. Two signals, recorded per item:

* other processes' CPU: on a 2-core CI runner two busy processes make a 2-thread int8 model 10x
  slower (OpenMP threads wait on each other). The host's CPU counters around the timed region, less
  this process's own CPU time, give the cores others (and the hypervisor, as steal) took;
* a canary: a fixed reference workload (a Python loop and a small numpy expression) timed before each
  latency round and after the last. On this shared VM the whole machine slows down for seconds at a
  time with no process or steal to show for it (neighbours on the host, SMT siblings, clocks): the
  canary then runs 30-90 % slower, alongside the model (correlation 0.6-0.7 measured here).

The comparison calls a timing change inconclusive, not a regression, when either explains it.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from pytest_aibench._lazy import lazy

psutil = lazy("psutil")  # read around timed regions only; the gate's rules import this module to collect

#: other processes using at least this many cores while timing make an item "busy" in the record
BUSY_CPUS = 0.5
#: a canary this much slower than beside the baseline means the machine, not the code, was slower
CANARY_SLOWER = 0.10
#: the shortest timed region whose CPU counters mean anything (they advance in 10 ms ticks per core)
MIN_WINDOW_S = 0.25
_CANARY_REPS = 7
_CANARY_DATA: Any = None


def canary_us() -> float:
    """Microseconds of the reference workload: the median of 7 runs of a Python loop plus the median of
    7 runs of a numpy expression on 32 KiB (interpreter speed, and vector code), about 3 ms in all."""
    global _CANARY_DATA

    if _CANARY_DATA is None:
        _CANARY_DATA = np.linspace(0.0, 1.0, 4096)

    def loop() -> int:
        t, acc = time.perf_counter_ns(), 0
        for i in range(3000):
            acc += i * i
        return time.perf_counter_ns() - t

    def vector() -> int:
        t = time.perf_counter_ns()
        for _ in range(20):
            np.sqrt(_CANARY_DATA * 1.0001 + 0.5)
        return time.perf_counter_ns() - t

    return round(
        (
            statistics.median(loop() for _ in range(_CANARY_REPS))
            + statistics.median(vector() for _ in range(_CANARY_REPS))
        )
        / 1e3,
        2,
    )


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class HostLoad:
    """Context manager: ``result()`` gives ``{"other_cpus", "steal_cpus", "cpus", "seconds"}``, or {}
    when the counters cannot be read (psutil missing, a platform without them)."""

    def __init__(self) -> None:
        self._start: tuple[Any, Any, float] | None = None
        self._result: dict[str, Any] = {}
        self._canary: list[float] = []

    def probe(self) -> None:
        """Time the canary now (call it between latency rounds, never inside one)."""
        self._canary.append(canary_us())

    def __enter__(self) -> HostLoad:
        try:
            self._psutil = psutil
            self._start = (psutil.cpu_times(), psutil.Process().cpu_times(), time.perf_counter())
        except Exception:  # noqa: BLE001 - a probe that cannot read the counters records nothing
            self._start = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is None:
            return
        try:
            host0, own0, t0 = self._start
            host1, own1 = self._psutil.cpu_times(), self._psutil.Process().cpu_times()
        except Exception:  # noqa: BLE001
            return
        wall = time.perf_counter() - t0
        if wall < MIN_WINDOW_S:  # the counters tick every 10 ms per core: too coarse for a shorter region
            return
        busy = _busy(host1) - _busy(host0)
        own = (own1.user + own1.system) - (own0.user + own0.system)
        steal = getattr(host1, "steal", 0.0) - getattr(host0, "steal", 0.0)
        self._result = {
            "other_cpus": round(max(0.0, busy - own + steal) / wall, 3),
            "steal_cpus": round(max(0.0, steal) / wall, 3),
            "cpus": _cpu_count(),
            "seconds": round(wall, 4),
        }

    def result(self) -> dict[str, Any]:
        return {**self._result, **({"canary_us": list(self._canary)} if self._canary else {})}


def _busy(t: Any) -> float:
    """Non-idle CPU seconds summed over cores (steal is added separately: the VM did not run)."""
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))


def busy_flag(load: dict[str, Any]) -> list[str]:
    """A result flag when other processes took a real share of the host while timing."""
    other = load.get("other_cpus")
    if isinstance(other, (int, float)) and other >= BUSY_CPUS:
        return [f"host busy: other processes used {other:.1f} of {load.get('cpus', '?')} CPUs while timing"]
    return []


def explains(base: dict[str, Any] | None, cur: dict[str, Any] | None, threads: Any) -> str | None:
    """Why the host, not the code, may account for a timing change between two runs, or None."""
    return contention(base, cur, threads) or machine_slower(base, cur)


def machine_slower(base: dict[str, Any] | None, cur: dict[str, Any] | None) -> str | None:
    """The canary ran CANARY_SLOWER or more above the baseline's median in at least two of the current
    run's probes (one, where a single-round run has only its two or three), and in more of them than in
    the baseline's own: the machine slowed down during the run, in whole or in part (a slow phase over
    two rounds, or over half of a single round, is enough to fake a shift)."""
    b, c = (base or {}).get("canary_us"), (cur or {}).get("canary_us")
    if not b or not c:
        return None
    limit = statistics.median(b) * (1 + CANARY_SLOWER)
    slow_c, slow_b = sum(v >= limit for v in c), sum(v >= limit for v in b)
    if slow_c >= (1 if len(c) <= 3 else 2) and slow_c > slow_b:
        return (
            f"a fixed reference workload timed between its rounds ran {CANARY_SLOWER:.0%} or more slower "
            f"than the baseline's median ({statistics.median(b):.0f} µs) in {slow_c} of {len(c)} probes "
            f"(baseline: {slow_b} of {len(b)}): the machine itself was slower"
        )
    return None


def contention(base: dict[str, Any] | None, cur: dict[str, Any] | None, threads: Any) -> str | None:
    """Why a timing change cannot be pinned on the code, or None: the current run had at least half a
    core more taken by others than the baseline, and too few cores left for the runtime's threads."""
    if not cur or not isinstance(cur.get("other_cpus"), (int, float)):
        return None
    before = (base or {}).get("other_cpus")
    before = before if isinstance(before, (int, float)) else 0.0
    now, cpus = cur["other_cpus"], cur.get("cpus") or _cpu_count()
    need = threads if isinstance(threads, int) and threads > 0 else 1
    if now - before >= BUSY_CPUS and cpus - now < need:
        return (
            f"other processes used {now:.1f} of {cpus} CPUs while this run was timed (baseline "
            f"{before:.1f}), leaving under the {need} its runtime uses"
        )
    return None
