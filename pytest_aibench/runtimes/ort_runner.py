"""ONNX Runtime (CPU) runner, configured for its best CPU settings, which it records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.errors import ArtifactError
from pytest_aibench.gen import ort_decoder
from pytest_aibench.measure import spin
from pytest_aibench.runtimes import (
    accelerator,
    adapt_input,
    check_shape,
    kernels,
    no_device,
    output_index,
    output_indices,
    version_of,
)
from pytest_aibench.tasks import raw

if TYPE_CHECKING:
    import onnxruntime as ort
else:
    ort = lazy("onnxruntime")

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.model import Settings
    from pytest_aibench.sim.node import Node

_NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


class OrtRunner:
    name = "onnxruntime"
    module = "onnxruntime"
    package = "onnxruntime"
    install_hint = "pip install 'pytest-aibench[onnx]'"
    formats = ("onnx", "kernel")

    def derives(self, quantization: str, fmt: str) -> bool:
        return False  # every ORT variant is a build artifact (quantize_static/dynamic, float16)

    def prepare(self, artifact: ModelArtifact, node: Node, settings: Settings) -> OrtSession:
        threads = settings.threads or node.threads
        providers, device = _providers(settings.device, artifact.format == "kernel")
        if artifact.format == "kernel":
            return kernels.prepare("onnxruntime", artifact.kernel, artifact.quantization, threads)  # type: ignore[return-value]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        policy = spin.decide(settings.spin_wait, threads)  # off where the pool would take every core
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if policy.spin else "0")
        if not artifact.path.is_file():
            raise ArtifactError(f"model file {artifact.path} not found")
        try:
            sess = ort.InferenceSession(str(artifact.path), so, providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf types
            raise ArtifactError(f"onnxruntime cannot load {artifact.path}: {exc}".strip()) from None
        if device != "cpu" and sess.get_providers()[0] != "CUDAExecutionProvider":  # ORT falls back silently
            raise no_device("onnxruntime", settings.device, f"the CUDA provider did not load: {sess.get_providers()}")
        used = {
            "threads": threads,
            "inter_op_threads": 1,
            "execution_mode": "sequential",
            **policy.describe(),
            "graph_optimization_level": "ORT_ENABLE_ALL",
            "providers": sess.get_providers(),
            "device": device,
            "version": version_of("onnxruntime"),
        }
        if ort_decoder.is_decoder_graph(sess):  # past_key_values inputs: a decoder, driven token by token
            return ort_decoder.OrtDecoderSession(sess, artifact, used)  # type: ignore[return-value]
        return OrtSession(sess, artifact, used)


def _providers(spec: str | None, kernel: bool) -> tuple[list[Any], str]:
    """The execution providers for ``device:`` (CUDA first, the CPU for what it lacks), checked here."""
    kind, index = accelerator(spec)
    if kind == "cpu":
        return ["CPUExecutionProvider"], "cpu"
    available = ort.get_available_providers()
    if kind != "cuda" or kernel:
        raise no_device("onnxruntime", spec, "this runner drives the CPU and CUDA (kernels: the CPU)")
    if "CUDAExecutionProvider" not in available:
        raise no_device(
            "onnxruntime",
            spec,
            f"onnxruntime {version_of('onnxruntime')} here offers {', '.join(available)} "
            "(the CUDA provider comes with onnxruntime-gpu and a GPU)",
        )
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"], f"cuda:{index}"


class OrtSession:
    def __init__(self, sess: Any, artifact: ModelArtifact, options: dict[str, Any]):
        self._sess = sess
        where = f"{artifact.path.name} (onnxruntime)"
        inputs = sess.get_inputs()
        spec = artifact.input
        names = [i.name for i in inputs]
        if spec is not None and spec.name is not None:
            if spec.name not in names:
                raise ArtifactError(
                    f"{where}: the manifest's input name {spec.name!r} is not an input of the model "
                    f"(its inputs: {', '.join(names)}); fix 'input: {{name: ...}}'"
                )
            inp = inputs[names.index(spec.name)]
        elif len(inputs) != 1:
            raise ArtifactError(
                f"{where}: the model has {len(inputs)} inputs ({', '.join(names)}); aibench feeds one "
                "batch of samples: export a single-input model"
            )
        else:
            inp = inputs[0]
        self._name = inp.name
        self._shape = [d if isinstance(d, int) else None for d in inp.shape]
        self._dtype = _NP.get(inp.type, np.float32)
        if spec is not None and spec.dtype and np.dtype(spec.dtype) != np.dtype(self._dtype):
            raise ArtifactError(
                f"{where}: the manifest says input dtype {spec.dtype}, the model's input {inp.name!r} "
                f"is {inp.type}; fix 'input: {{dtype: ...}}' or leave it out"
            )
        if spec is not None and spec.shape and not _compatible(spec.shape, self._shape):
            shown = ["N" if d is None else d for d in self._shape]
            raise ArtifactError(
                f"{where}: the manifest says input shape {list(spec.shape)}, the model's input "
                f"{inp.name!r} is {shown}; fix 'input: {{shape: ...}}'"
            )
        out_names = [o.name for o in sess.get_outputs()]
        self._outs = output_indices(out_names, artifact.output, where)  # several, by name, for a task
        one = None if isinstance(artifact.output, tuple) else artifact.output
        self._out = self._outs[0] if self._outs else output_index(out_names, one, where)
        self._out_names = [out_names[i] for i in self._outs] if self._outs else []
        self._batch = self._shape[0] if self._shape and isinstance(self._shape[0], int) else None
        self._artifact = artifact
        self._run = sess.run
        self.options = {**options, "input": inp.name, "output": sess.get_outputs()[self._out].name}
        if self._batch is not None:
            self.options["fixed_batch"] = self._batch  # batches are cut (and the last padded) to this size

    def adapt(self, x: np.ndarray) -> np.ndarray:
        out = adapt_input(x, "NCHW", self._artifact.input, self._dtype)
        check_shape(out, self._shape, f"{self._artifact.model} (onnxruntime, input {self._name!r})")
        return out

    def infer(self, batch: np.ndarray) -> Any:
        if self._batch is None or len(batch) == self._batch:
            got = self._run(None, {self._name: batch})
            return (
                dict(zip(self._out_names, (got[i] for i in self._outs), strict=True)) if self._outs else got[self._out]
            )
        return self._fixed(batch)

    def _fixed(self, batch: np.ndarray) -> Any:
        """A model exported with a fixed batch size: run it in chunks of that size, the last padded."""

        def one(chunk: np.ndarray) -> Any:
            got = self._run(None, {self._name: chunk})
            return (
                dict(zip(self._out_names, (got[i] for i in self._outs), strict=True)) if self._outs else got[self._out]
            )

        return raw.in_fixed_batches(batch, self._batch or 1, one)

    def close(self) -> None:
        self._sess = None
        self._run = None


def _compatible(spec_shape: tuple[Any, ...], model_shape: list[int | None]) -> bool:
    if len(spec_shape) != len(model_shape):
        return False
    return all(a is None or b is None or a == b for a, b in zip(spec_shape[1:], model_shape[1:], strict=True))
