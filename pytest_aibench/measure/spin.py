"""Whether a runtime's idle worker threads may spin (busy-wait) for the next call.

Spinning saves a few microseconds of wake-up on a dedicated machine; but a pool that spins on every
usable core leaves nothing for the interpreter, the OS or a neighbour, and then a call waits for the
scheduler instead: on a 2-core VM whose other core was busy, torch's libgomp pool made items' *mean*
latency 80-100x their p50. So spinning is off by default whenever the item's threads (times the xdist
workers sharing the machine) take every usable core, and left to the runtime (spinning) otherwise;
``spin_wait: true`` in the manifest restores it (a dedicated machine), ``false`` forces it off.

ONNX Runtime decides per session (``session.intra_op.allow_spinning``); torch's OpenMP pool reads
``OMP_WAIT_POLICY`` once, when libgomp loads, so the session decides that for all its torch items
before torch is imported, and each item records what was in force.
"""

from __future__ import annotations

import os
import sys
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


def decide(setting: bool | None, threads: int, cpus: int | None = None, workers: int | None = None) -> SpinPolicy:
    """The policy for an item on ``threads`` threads: the manifest's ``spin_wait`` if set, else off when
    the threads of every worker together take all ``cpus`` usable cores."""
    if setting is not None:
        return SpinPolicy(bool(setting), "set by the manifest (spin_wait)")
    cpus = host_threads() if cpus is None else cpus
    workers = processes() if workers is None else workers
    taken = max(1, threads) * workers
    if taken >= cpus:
        return SpinPolicy(
            False,
            f"{threads} thread(s) x {workers} process(es) take all {cpus} usable cores: idle threads wait "
            "passively (spin_wait: true restores spinning on a dedicated machine)",
        )
    return SpinPolicy(True, f"{taken} of {cpus} usable cores taken: the runtime's default (spinning)")


def configure_openmp(settings: Iterable[tuple[bool | None, int | None]]) -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for the session unless every item may spin or the user chose a
    policy; ``settings`` are the items' (spin_wait, threads). Returns what is in force, for the record."""
    if "OMP_WAIT_POLICY" not in os.environ:
        if any(not decide(spin, threads or host_threads()).spin for spin, threads in settings):
            if "torch" in sys.modules:  # libgomp already loaded: too late to change how it waits
                return "unset (libgomp spins; torch was imported before the session could set PASSIVE)"
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return openmp_policy()


def openmp_policy() -> str:
    policy = os.environ.get("OMP_WAIT_POLICY")
    return policy if policy else "unset (libgomp's default: spin a while, then sleep)"
