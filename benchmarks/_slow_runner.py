"""A pytest plugin for benchmarks/gate_quality.py: wraps the onnxruntime and torch runners so every
call busy-waits AIBENCH_SLOWDOWN (e.g. 0.10) of its own duration longer: a real, known regression to
detect. With AIBENCH_SLOW_UNDER=DIR only models under DIR are slowed (the candidate side of a paired
run; the reference side, measured in the same process, keeps its speed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pytest_aibench.runtimes.ort_runner import OrtRunner


class _Slow:
    def __init__(self, session, factor: float):
        self._s, self._f = session, factor
        self.options = {**getattr(session, "options", {}), "injected_slowdown": factor}

    def adapt(self, x):
        return self._s.adapt(x)

    def infer(self, batch):
        clock = time.perf_counter_ns
        t0 = clock()
        out = self._s.infer(batch)
        end = clock() + (clock() - t0) * self._f
        while clock() < end:
            pass
        return out

    def close(self):
        self._s.close()


def _slowed(artifact) -> bool:
    under = os.environ.get("AIBENCH_SLOW_UNDER")
    return not under or Path(artifact.path).resolve().is_relative_to(Path(under).resolve())


def _wrap(base):
    class Slow(base):
        def prepare(self, artifact, node, settings):
            session = super().prepare(artifact, node, settings)
            return _Slow(session, float(os.environ["AIBENCH_SLOWDOWN"])) if _slowed(artifact) else session

    Slow.__name__ = Slow.__qualname__ = f"Slow{base.__name__}"
    return Slow


SlowOrt = _wrap(OrtRunner)


def pytest_aibench_make_runner(name, config):
    if float(os.environ.get("AIBENCH_SLOWDOWN", "0") or 0) <= 0:
        return None
    if name == "onnxruntime":
        return SlowOrt()
    if name == "torch":
        from pytest_aibench.runtimes.torch_runner import TorchRunner

        return _wrap(TorchRunner)()
    return None
