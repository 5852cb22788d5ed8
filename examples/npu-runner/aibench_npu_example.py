"""A vendor's NPU runtime as an out-of-tree pytest-aibench runner: this one module plus the entry point in
``pyproject.toml``. ``pip install ./examples/npu-runner`` and a manifest may say ``frameworks: [simnpu]``,
``device: npu`` and ``runtime_options: {simnpu: {cores: 2}}``; the manifest check validates ``cores``
from the declaration below, results record this package and its version, ``aibench bundle`` records
them with the run, and ``aibench rerun`` on a machine without this package says which to install.

The "NPU" is simulated: where a real package calls its SDK's compiler and executor, this one loads
the ONNX file in ONNX Runtime's CPU provider, so the example runs anywhere; everything around that
call (declaration, device check, options, recording) is what a real runner does.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from pytest_aibench.errors import ArtifactError
from pytest_aibench.runtimes import (
    RuntimeOption,
    accelerator,
    adapt_input,
    no_device,
    runtime_options,
    version_of,
)

PACKAGE = "aibench-npu-example"


def _cores(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4
    return None if ok else f"got {value!r}"


class SimNpuRunner:
    """What pytest-aibench reads about the runtime, declared once."""

    name = "simnpu"
    module = "onnxruntime"  # probed, never imported, to say whether the runtime (here: its stand-in) is there
    package = PACKAGE  # recorded with every result; what `aibench rerun` tells a machine without it to install
    install_hint = "pip install ./examples/npu-runner (the vendor's runner package) and onnxruntime"
    formats = ("onnx",)  # the zoo's ONNX artifacts: every shipped ONNX variant runs here
    options = {"cores": RuntimeOption("an integer from 1 to 4", _cores, "NPU cores the compiled model may use.")}

    def derives(self, quantization: str, fmt: str) -> bool:
        return False

    def prepare(self, artifact: Any, node: Any, settings: Any) -> SimNpuSession:
        kind, index = accelerator(settings.device)
        if kind not in ("cpu", "npu"):
            raise no_device(self.name, settings.device, "this runtime drives its NPU (device: npu[:N]) only")
        cores = runtime_options(settings, self.name).get("cores", 1)
        ort = importlib.import_module("onnxruntime")  # the vendor SDK's import, done when an item needs it
        so = ort.SessionOptions()
        so.intra_op_num_threads = cores
        try:
            sess = ort.InferenceSession(str(artifact.path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - the SDK's own error types
            raise ArtifactError(f"simnpu cannot compile {artifact.path}: {exc}") from None
        options = {
            "device": f"npu:{index}",
            "device_name": "SimNPU (simulated by ONNX Runtime's CPU provider)",
            "cores": cores,
            "version": version_of(PACKAGE),
        }
        return SimNpuSession(sess, artifact, options)


class SimNpuSession:
    def __init__(self, sess: Any, artifact: Any, options: dict[str, Any]):
        self._sess, self._artifact, self.options = sess, artifact, options
        self._input = sess.get_inputs()[0].name

    def adapt(self, x: np.ndarray) -> np.ndarray:
        return adapt_input(x, "NCHW", self._artifact.input)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self._sess.run(None, {self._input: batch})[0]

    def close(self) -> None:
        self._sess = None
