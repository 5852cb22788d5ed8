"""Whether a runtime's idle worker threads may spin (busy-wait) for the next call.

Spinning is what makes a pool fast on a quiet machine: measured on this 2-vCPU VM (20 3x3
convolutions, torch, 2 threads), p50 7.4 ms spinning against 26 ms with OMP_WAIT_POLICY=PASSIVE, since a
sleeping thread on an idle vCPU wakes slowly. But beside a busy neighbour the spinning pool fights it
for the core: p50 24-28 ms with the *mean* 65-70 ms (2.5-3x the p50), against 12.4 / 12.8 ms passive;
bounding the spin (GOMP_SPINCOUNT 10k, 100k) was worse still (41, 180 ms). So spinning stays the
runtime's default unless the item's threads would share cores with other work: all usable cores taken
by the item's threads (times the xdist workers), and either several workers or other processes using
at least half a CPU when the session starts. ``spin_wait: true`` in the manifest keeps spinning (a
dedicated machine), ``false`` turns it off.

ONNX Runtime decides per session (``session.intra_op.allow_spinning``); torch's OpenMP pool reads
``OMP_WAIT_POLICY`` once, when libgomp loads, so the session decides that for all its torch items
before torch is imported, and each item records what was in force.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pytest_aibench.sim.node import host_threads


@dataclass(frozen=True)
class SpinPolicy:
    spin: bool
    why: str

    def describe(self) -> dict[str, object]:
        return {"spin_wait": self.spin, "spin_why": self.why}


def processes() -> int:
    """Processes measuring side by side on this machine (xdist workers; 1 without xdist)."""
    try:
        return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    except ValueError:
        return 1


#: CPUs other processes used when the session started (measured once; None: not yet)
_NEIGHBOURS: list[float] = []


def neighbours(window_s: float = 0.25) -> float:
    """CPUs other processes keep busy, over ``window_s`` while this one idles (measured once a session)."""
    if not _NEIGHBOURS:
        psutil = importlib.import_module("psutil")
        me = psutil.Process()
        busy = psutil.cpu_times()
        own = me.cpu_times()
        time.sleep(window_s)
        busy_after, own_after = psutil.cpu_times(), me.cpu_times()
        spent = (
            sum(busy_after)
            - sum(busy)
            - (busy_after.idle - busy.idle)
            - (getattr(busy_after, "iowait", 0) - getattr(busy, "iowait", 0))
        )
        mine = (own_after.user + own_after.system) - (own.user + own.system)
        _NEIGHBOURS.append(max(0.0, (spent - mine) / window_s))
    return _NEIGHBOURS[0]


def decide(
    setting: bool | None, threads: int, cpus: int | None = None, workers: int | None = None, others: float | None = None
) -> SpinPolicy:
    """The policy for an item on ``threads`` threads: the manifest's ``spin_wait`` if set; else off when
    the threads of every worker together take all ``cpus`` usable cores and something else wants them
    (another worker, or ``others`` CPUs of other processes, at least half a CPU)."""
    if setting is not None:
        return SpinPolicy(bool(setting), "set by the manifest (spin_wait)")
    cpus = host_threads() if cpus is None else cpus
    workers = processes() if workers is None else workers
    taken = max(1, threads) * workers
    if taken < cpus:
        return SpinPolicy(True, f"{taken} of {cpus} usable cores taken: the runtime's default (spinning)")
    others = neighbours() if others is None and workers == 1 else (others or 0.0)
    if workers > 1 or others >= 0.5:
        who = f"{workers} workers" if workers > 1 else f"other processes using {others:.1f} CPUs"
        return SpinPolicy(
            False,
            f"{threads} thread(s) x {workers} process(es) take all {cpus} usable cores and {who} share them: "
            "idle threads wait passively (spin_wait: true keeps spinning)",
        )
    return SpinPolicy(
        True, f"all {cpus} usable cores taken, no other work on them ({others:.1f} CPUs): the runtime's default"
    )


#: why torch's OpenMP pool waits as it does, as the session decided (each torch item records it), and
#: the ``OMP_WAIT_POLICY`` this process's own session set (a later in-process session keeps it)
_OPENMP_WHY: list[str] = []
_SET_HERE: list[str] = []


def configure_openmp(settings: Iterable[tuple[bool | None, int | None]]) -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for the session unless every item may spin or the user chose a
    policy; ``settings`` are the items' (spin_wait, threads). Returns what is in force, for the record."""
    if "OMP_WAIT_POLICY" in os.environ:
        if os.environ["OMP_WAIT_POLICY"] not in _SET_HERE:
            _OPENMP_WHY[:] = ["OMP_WAIT_POLICY was set before the session: the user's choice stands"]
        return openmp_policy()
    policies = (decide(spin, threads or host_threads()) for spin, threads in settings)
    first = passive = None
    for policy in policies:  # stops at the first item that must not spin (neighbours are measured once)
        first = first or policy
        if not policy.spin:
            passive = policy
            break
    if passive is None:
        _OPENMP_WHY[:] = [first.why if first else "no item asked otherwise: libgomp's default"]
    elif "torch" in sys.modules:  # libgomp already loaded: too late to change how it waits
        _OPENMP_WHY[:] = [f"torch was imported before the session could set PASSIVE, where: {passive.why}"]
        return "unset (libgomp spins; torch was imported before the session could set PASSIVE)"
    else:
        _set_passive(f"set by the session for its torch items: {passive.why}")
    return openmp_policy()


def _set_passive(why: str) -> None:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    _SET_HERE[:] = ["PASSIVE"]
    _OPENMP_WHY[:] = [why]


def passive_for_pairing() -> None:
    """``--aibench-against``: libgomp's spin-waiting beside a CPU-bound neighbour makes a 2-thread torch
    model ~600x slower (198 ms vs 0.30 ms a call, measured) and a paired run would take hours, so both
    sides wait passively, unless the user chose a policy."""
    if "OMP_WAIT_POLICY" not in os.environ:
        _set_passive("set for a paired run (--aibench-against): both sides wait passively alike")


def openmp_why() -> str:
    """Why torch's pool waits as :func:`openmp_policy` says (for the item's record)."""
    return _OPENMP_WHY[0] if _OPENMP_WHY else "no aibench session decided it: the environment's or libgomp's default"


def openmp_policy() -> str:
    policy = os.environ.get("OMP_WAIT_POLICY")
    return policy if policy else "unset (libgomp's default: spin a while, then sleep)"
