"""How busy the rest of the host was while an item was timed.

A latency regression gate must not blame the code for a neighbour's work: on a 2-core CI runner, two
busy processes make a 2-thread int8 model 10x slower (OpenMP threads wait on each other). The probe
reads the host's CPU counters around the timed region and subtracts this process's own CPU time,
leaving the cores that other processes (and the hypervisor, as steal) took. The comparison uses it to
call such a change inconclusive rather than a regression.
"""

from __future__ import annotations

import os
import time
from typing import Any

#: other processes using at least this many cores while timing make an item "busy" in the record
BUSY_CPUS = 0.5


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

    def __enter__(self) -> HostLoad:
        try:
            import psutil  # noqa: PLC0415

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
        if wall <= 0:
            return
        busy = _busy(host1) - _busy(host0)
        own = (own1.user + own1.system) - (own0.user + own0.system)
        steal = getattr(host1, "steal", 0.0) - getattr(host0, "steal", 0.0)
        self._result = {"other_cpus": round(max(0.0, busy - own + steal) / wall, 3),
                        "steal_cpus": round(max(0.0, steal) / wall, 3), "cpus": _cpu_count(),
                        "seconds": round(wall, 4)}

    def result(self) -> dict[str, Any]:
        return dict(self._result)


def _busy(t: Any) -> float:
    """Non-idle CPU seconds summed over cores (steal is added separately: the VM did not run)."""
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))


def busy_flag(load: dict[str, Any]) -> list[str]:
    """A result flag when other processes took a real share of the host while timing."""
    other = load.get("other_cpus")
    if isinstance(other, (int, float)) and other >= BUSY_CPUS:
        return [f"host busy: other processes used {other:.1f} of {load.get('cpus', '?')} CPUs while timing"]
    return []


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
        return (f"other processes used {now:.1f} of {cpus} CPUs while this run was timed (baseline "
                f"{before:.1f}), leaving under the {need} its runtime uses")
    return None
