"""A pytest plugin for benchmarks/gate_quality.py: wraps the onnxruntime runner so every call busy-waits
AIBENCH_SLOWDOWN (e.g. 0.10) of its own duration longer: a real, known regression to detect."""

from __future__ import annotations

import os
import time

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


class SlowOrt(OrtRunner):
    def prepare(self, artifact, node, settings):
        return _Slow(super().prepare(artifact, node, settings), float(os.environ["AIBENCH_SLOWDOWN"]))


def pytest_aibench_make_runner(name, config):
    if name == "onnxruntime" and float(os.environ.get("AIBENCH_SLOWDOWN", "0") or 0) > 0:
        return SlowOrt()
    return None
