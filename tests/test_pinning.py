"""Thread placement for paired loops: each side's own workers found and moved onto the same CPUs."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from pytest_aibench.run import pinning

pytestmark = pytest.mark.skipif(
    not pinning.supported(), reason="thread placement needs Linux's /proc and sched_setaffinity"
)


@pytest.fixture
def worker() -> Iterator[int]:
    """A live thread standing in for a runtime's pool worker; its native id."""
    started, stop = threading.Event(), threading.Event()
    ids: list[int] = []

    def run() -> None:
        ids.append(threading.get_native_id())
        started.set()
        stop.wait()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    started.wait()
    yield ids[0]
    stop.set()
    t.join()


def test_new_threads_of_this_process_are_found(worker: int) -> None:
    assert worker in pinning.tasks()
    assert threading.get_native_id() in pinning.tasks()
    assert pinning.tasks(2**22 + 12345) == set()  # no such process: nothing, not an error


def test_both_sides_workers_share_the_cpus_after_the_caller_and_are_restored(worker: int) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    me = threading.get_native_id()
    before_me, before_worker = os.sched_getaffinity(me), os.sched_getaffinity(worker)
    p = pinning.place_local(allowed, reference={worker}, candidate=set())
    assert p is not None
    try:
        assert os.sched_getaffinity(me) == {allowed[0]}
        expected = allowed[1] if len(allowed) > 1 else allowed[0]
        assert os.sched_getaffinity(worker) == {expected}
        assert p.describe() == {"cpus": allowed, "threads": {"caller": [allowed[0]], "reference": [expected]}}
    finally:
        p.restore()
    assert os.sched_getaffinity(me) == before_me and os.sched_getaffinity(worker) == before_worker


def test_workers_go_round_robin_over_the_cpus_after_the_first() -> None:
    p = pinning.Placement([3, 1, 2])
    moved: list[tuple[int, int]] = []
    p._move = lambda tid, cpu: moved.append((tid, cpu)) or True  # type: ignore[method-assign]
    p.workers({30, 10, 20}, "reference")
    p.workers({40}, "candidate")
    assert moved == [(10, 2), (20, 3), (30, 2), (40, 2)]  # oldest first; CPU 1 is the callers'
    single = pinning.Placement([5])
    single._move = lambda tid, cpu: moved.append((tid, cpu)) or True  # type: ignore[method-assign]
    single.workers({7}, "candidate")
    assert moved[-1] == (7, 5)


def test_a_thread_that_ended_is_skipped_not_an_error() -> None:
    gone = 2**22 + 12345  # above Linux's largest pid_max: never a live thread
    p = pinning.Placement(sorted(os.sched_getaffinity(0)))
    p.workers({gone}, "reference")
    p.caller(gone, "candidate")
    assert p.describe()["threads"] == {}
    p.restore()
