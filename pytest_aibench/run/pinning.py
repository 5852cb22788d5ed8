"""The same CPUs for both sides' threads while a paired loop runs.

Pairing cancels noise that varies in time, not noise bound to one side. A runtime with a thread pool
per session (ONNX Runtime, LiteRT) gives each side its own worker threads, and the scheduler places
them: under load one side's worker can sit on the core of the thread that calls it for seconds, and
that side runs up to 1.6x slower for as long (A/A ratios 0.61-1.65 measured with a neighbour busy,
two 2-thread sessions of tinycnn-digits; 0.995-1.003 with the placement below). So while pairing,
the calling thread goes to the first CPU and each side's own workers, in the order they were
created, to the others, the same CPUs for both sides; threads the sides share (torch's pool) are left
alone. Linux only (``/proc/<pid>/task``); elsewhere nothing moves and the result says so.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path


def tasks(pid: int | str = "self") -> set[int]:
    """The thread ids of process ``pid`` (empty where ``/proc`` cannot tell)."""
    try:
        return {int(t) for t in os.listdir(f"/proc/{pid}/task")}
    except (OSError, ValueError):
        return set()


def supported() -> bool:
    return hasattr(os, "sched_setaffinity") and Path("/proc/self/task").is_dir()


class Placement:
    """Threads moved onto fixed CPUs, undone by :meth:`restore`."""

    def __init__(self, cpus: Iterable[int]):
        self.cpus = sorted(cpus)
        self._old: dict[int, set[int]] = {}
        self.moved: dict[str, list[int]] = {}

    def _move(self, tid: int, cpu: int) -> bool:
        try:
            if tid not in self._old:
                self._old[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, {cpu})
            return True
        except OSError:  # the thread ended meanwhile, or the CPU is not ours
            return False

    def caller(self, tid: int, side: str) -> None:
        """The thread that makes a side's calls: the first CPU."""
        if self._move(tid, self.cpus[0]):
            self.moved.setdefault(side, []).append(self.cpus[0])

    def workers(self, tids: Iterable[int], side: str) -> None:
        """A side's own workers, oldest first, round robin over the other CPUs (or the only one)."""
        rest = self.cpus[1:] or self.cpus[:1]
        for k, tid in enumerate(sorted(tids)):
            cpu = rest[k % len(rest)]
            if self._move(tid, cpu):
                self.moved.setdefault(side, []).append(cpu)

    def restore(self) -> None:
        for tid, mask in self._old.items():
            try:
                os.sched_setaffinity(tid, mask)
            except OSError:
                pass
        self._old.clear()

    def describe(self) -> dict[str, object]:
        return {"cpus": self.cpus, "threads": {side: cpus for side, cpus in self.moved.items()}}


def this_thread() -> int:
    return threading.get_native_id()


def place_local(cpus: Iterable[int], reference: set[int], candidate: set[int]) -> Placement | None:
    """Both sides in this process: the calling thread, then each side's workers."""
    if not supported():
        return None
    p = Placement(cpus)
    p.caller(this_thread(), "caller")
    p.workers(reference, "reference")
    p.workers(candidate, "candidate")
    return p


def place_partner(cpus: Iterable[int], candidate: set[int], partner_pid: int) -> Placement | None:
    """The candidate here and the reference in the partner process: each process's calling thread on
    the first CPU (turns alternate, so they never run at once), each side's workers on the others."""
    if not supported():
        return None
    p = Placement(cpus)
    p.caller(this_thread(), "candidate")
    p.workers(candidate, "candidate")
    theirs = tasks(partner_pid)
    p.caller(partner_pid, "reference")
    p.workers(theirs - {partner_pid}, "reference")
    return p
