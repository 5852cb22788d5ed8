"""ONNX Runtime (CPU) runner, configured for its best CPU settings, which it records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.errors import ArtifactError
from pytest_aibench.runtimes import adapt_input, check_shape, kernels, version_of

if TYPE_CHECKING:
    import onnxruntime as ort
else:
    ort = lazy("onnxruntime")

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.manifest.model import Settings
    from pytest_aibench.sim.node import Node

_NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


class OrtRunner:
    name = "onnxruntime"
    module = "onnxruntime"
    install_hint = "pip install 'pytest-aibench[onnx]'"
    formats = ("onnx", "kernel")

    def derives(self, quantization: str, fmt: str) -> bool:
        return False  # every ORT variant is a build artifact (quantize_static/dynamic, float16)

    def prepare(self, artifact: ModelArtifact, node: Node, settings: Settings) -> OrtSession:
        threads = settings.threads or node.threads
        if artifact.format == "kernel":
            return kernels.prepare("onnxruntime", artifact.kernel, artifact.quantization, threads)  # type: ignore[return-value]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        if settings.spin_wait is not None:
            so.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.spin_wait else "0")
        if not artifact.path.is_file():
            raise ArtifactError(f"model file {artifact.path} not found")
        try:
            sess = ort.InferenceSession(str(artifact.path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf types
            raise ArtifactError(f"onnxruntime cannot load {artifact.path}: {exc}".strip()) from None
        used = {"threads": threads, "inter_op_threads": 1, "execution_mode": "sequential",
                "spin_wait": True if settings.spin_wait is None else settings.spin_wait,
                "graph_optimization_level": "ORT_ENABLE_ALL", "providers": sess.get_providers(),
                "version": version_of("onnxruntime")}
        return OrtSession(sess, artifact, used)


class OrtSession:
    def __init__(self, sess: Any, artifact: ModelArtifact, options: dict[str, Any]):
        self._sess = sess
        inp = sess.get_inputs()[0]
        self._name = inp.name
        self._shape = [d if isinstance(d, int) else None for d in inp.shape]
        self._dtype = _NP.get(inp.type, np.float32)
        self._artifact = artifact
        self._run = sess.run
        self.options = options

    def adapt(self, x: np.ndarray) -> np.ndarray:
        out = adapt_input(x, "NCHW", self._artifact.input, self._dtype)
        check_shape(out, self._shape, f"{self._artifact.model} (onnxruntime, input {self._name!r})")
        return out

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self._run(None, {self._name: batch})[0]

    def close(self) -> None:
        self._sess = None
        self._run = None
