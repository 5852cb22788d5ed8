"""Shared test helpers: a tiny numpy "runtime" plugged in through pytest_aibench_make_runner, so
plugin behaviour is tested end to end without torch, plus a trained linear model for it."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _runtimes_imported_once() -> None:
    """Native runtimes cannot be imported twice in one process: if one were first imported inside an
    in-process pytester run, pytester would drop it afterwards and the next run would re-import it and
    crash (onnx too: the kernel runner builds ORT graphs with it, and its nanobind enums abort on a second
    import). Import the installed ones once, before the first test. A fixture, not module code, because
    pytest loads this conftest (testpaths) even for ``pytest --aibench suites/...`` from the project root,
    which must not pay for importing torch."""
    # torch._dynamo: torch.manual_seed (seed_everything) imports it on first call, which may be inside a run
    for runtime in (
        "torch",
        "torch._dynamo",
        "onnx",
        "onnxruntime",
        "onnxruntime.quantization",
        "ai_edge_litert.interpreter",
        "mlperf_loadgen",
        "simpy",
    ):
        try:
            __import__(runtime)
        except ImportError:
            pass


def pytest_report_header(config: pytest.Config) -> str:
    """Which instruction set these tests ran on: quantized and float kernels are picked by it."""
    from pytest_aibench.isa import describe, isa_flags
    from pytest_aibench.machine import cpu_summary

    return f"cpu: {cpu_summary()['cpu']}, ISA {describe(isa_flags())}"


DEMO_RUNNERS = """
import os
import signal
import time
import numpy as np


class NumpySession:
    def __init__(self, w, b, crash_on=None, cost_us=0.0):
        self.w, self.b, self.crash_on, self.cost_us = w, b, crash_on, cost_us
        self.options = {"threads": 1, "engine": "numpy matmul"}

    def adapt(self, x):
        return np.array(x.reshape(len(x), -1), dtype=np.float32)

    def infer(self, batch):
        out = batch @ self.w + self.b
        slow = float(os.environ.get("AIBENCH_TEST_SLOW", "0") or 0) + self.cost_us
        if slow:  # a real regression on demand: busy-wait this many microseconds per call
            import time
            end = time.perf_counter() + slow / 1e6
            while time.perf_counter() < end:
                pass
        return out

    def close(self):
        pass


class NumpyRunner:
    name = "numpy"
    module = "numpy"
    install_hint = "pip install numpy"
    formats = ("npz",)

    def derives(self, quantization, fmt):
        return False

    def prepare(self, artifact, node, settings):
        if os.environ.get("AIBENCH_TEST_CRASH") and os.environ["AIBENCH_TEST_CRASH"] in artifact.model:
            os._exit(3)  # a runtime dying hard, as native code does
        if os.environ.get("AIBENCH_TEST_SIGKILL") and os.environ["AIBENCH_TEST_SIGKILL"] in artifact.model:
            os.kill(os.getpid(), signal.SIGKILL)  # the whole run killed at a known item
        if "abort" in artifact.model:
            os.abort()  # SIGABRT, as a failing native assertion does
        if "hang" in artifact.model:
            time.sleep(3600)
        with np.load(artifact.path) as z:
            # a heavier model: ``cost_us`` in the file busy-waits that long per call
            return NumpySession(z["w"], z["b"], cost_us=float(z["cost_us"]) if "cost_us" in z.files else 0.0)


class GhostRunner:
    name = "ghost"
    module = "no_such_runtime_module_xyz"
    install_hint = "pip install ghost-runtime"
    formats = ("npz",)

    def derives(self, quantization, fmt):
        return False

    def prepare(self, artifact, node, settings):
        raise AssertionError("never prepared: the runtime is missing")


"""

NUMPY_RUNNER_CONFTEST = """
from demo_runners import GhostRunner, NumpyRunner


def pytest_aibench_runner_names(config):
    return ["numpy", "ghost"]


def pytest_aibench_make_runner(name, config):
    return {"numpy": NumpyRunner, "ghost": GhostRunner}.get(name, lambda: None)()
"""


def manifest(
    sha: str,
    *,
    extra: str = "",
    gates: str = 'accuracy: ">= 0.9"',
    frameworks: str = "[numpy]",
    quantizations: str = "[fp32]",
    models: str | None = None,
) -> str:
    models = models or f"  linear:\n    file: model.npz\n    sha256: {sha}\n"
    return (
        textwrap.dedent("""\
        suite: demo
        version: "1.0"
        datasets:
          digits: {{source: digits, split_seed: 0}}
        models:
        {models}frameworks: {frameworks}
        quantizations: {quantizations}
        settings: {{warmup: 2, latency_samples: 20}}
        gates: {{{gates}}}
        """).format(models=models, frameworks=frameworks, quantizations=quantizations, gates=gates)
        + extra
    )


@pytest.fixture(scope="session")
def linear_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """A ridge-regression digits classifier (train split, seed 0) saved as .npz: (bytes, sha256)."""
    from pytest_aibench.core.model import DatasetSpec
    from pytest_aibench.data import materialize

    data = materialize(DatasetSpec(name="digits", source="digits"))
    x = data.x_train.reshape(len(data.x_train), -1)
    xb = np.hstack([x, np.ones((len(x), 1), np.float32)])
    onehot = np.eye(10, dtype=np.float32)[data.y_train]
    wb = np.linalg.solve(xb.T @ xb + 1e-1 * np.eye(xb.shape[1]), xb.T @ onehot).astype(np.float32)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    np.savez(path, w=wb[:-1], b=wb[-1])
    raw = path.read_bytes()
    return raw, hashlib.sha256(raw).hexdigest()


@pytest.fixture
def demo(pytester: pytest.Pytester, linear_model: tuple[bytes, str]) -> pytest.Pytester:
    """A pytester folder with the numpy runner conftest and model.npz; write suite.yaml yourself."""
    pytester.makepyfile(demo_runners=DEMO_RUNNERS)  # a real module: isolated children import it by name
    pytester.makeconftest(NUMPY_RUNNER_CONFTEST)
    (Path(pytester.path) / "model.npz").write_bytes(linear_model[0])
    return pytester
