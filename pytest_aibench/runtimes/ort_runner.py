"""ONNX Runtime (CPU) runner, configured for its best CPU settings, which it records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.gen import ort_decoder
from pytest_aibench.measure import spin
from pytest_aibench.runtimes import (
    RuntimeOption,
    accelerator,
    adapt_input,
    check_shape,
    kernels,
    no_device,
    one_of,
    output_index,
    output_indices,
    runtime_options,
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

#: ``graph_optimization_level`` values -> ORT's enum names
_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def _provider_list(value: Any) -> str | None:
    """``providers: [CUDAExecutionProvider, {TensorrtExecutionProvider: {trt_fp16_enable: true}}]``."""
    if not isinstance(value, list) or not value:
        return f"got {value!r}"
    for entry in value:
        name, opts = next(iter(entry.items())) if isinstance(entry, dict) and len(entry) == 1 else (entry, {})
        if not isinstance(name, str) or not name.endswith("ExecutionProvider"):
            return f"{entry!r} is not a provider name (they end in ExecutionProvider, e.g. CPUExecutionProvider)"
        if not isinstance(opts, dict) or not all(isinstance(v, (str, int, float, bool)) for v in opts.values()):
            return f"{name}'s options must be a mapping of scalars, got {opts!r}"
    return None


def _scalars(value: Any) -> str | None:
    ok = isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) for v in value.values())
    return None if ok else f"got {value!r}"


_NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


class OrtRunner:
    name = "onnxruntime"
    module = "onnxruntime"
    package = "onnxruntime"
    install_hint = "pip install 'pytest-aibench[onnx]'"
    formats = ("onnx", "kernel")
    options = {
        "providers": RuntimeOption(
            "a list of execution providers, each a name or {name: {option: value}}",
            _provider_list,
            "Execution providers in priority order with their own options (ORT's provider_options); one "
            "this build lacks skips the item, and ORT's silent fallback to the CPU is refused.",
        ),
        "graph_optimization_level": RuntimeOption(
            "one of " + ", ".join(_LEVELS), one_of(*_LEVELS), "ORT's graph optimizations (default all)."
        ),
        "session_config": RuntimeOption(
            "a mapping of ORT session config entries to values",
            _scalars,
            "Entries for SessionOptions.add_session_config_entry, applied last (e.g. session.intra_op.allow_spinning).",
        ),
    }

    def derives(self, quantization: str, fmt: str) -> bool:
        return False  # every ORT variant is a build artifact (quantize_static/dynamic, float16)

    def prepare(self, artifact: ModelArtifact, node: Node, settings: Settings) -> OrtSession:
        threads = settings.threads or node.threads
        opts = runtime_options(settings, self.name)
        providers, device = _providers(settings.device, artifact.format == "kernel", opts.get("providers"))
        if artifact.format == "kernel":
            return kernels.prepare("onnxruntime", artifact.kernel, artifact.quantization, threads)  # type: ignore[return-value]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        level = _LEVELS[opts.get("graph_optimization_level", "all")]
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        so.log_severity_level = 3
        policy = spin.decide(settings.spin_wait, threads)  # off where the pool would take every core
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if policy.spin else "0")
        config = {str(k): _text(v) for k, v in (opts.get("session_config") or {}).items()}
        for key, value in config.items():  # the manifest's own entries win over the defaults above
            so.add_session_config_entry(key, value)
        if not artifact.path.is_file():
            raise ArtifactError(f"model file {artifact.path} not found")
        try:
            sess = ort.InferenceSession(str(artifact.path), so, providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf types
            raise ArtifactError(f"onnxruntime cannot load {artifact.path}: {exc}".strip()) from None
        dropped = [_name(p) for p in providers if _name(p) not in sess.get_providers()]
        if dropped:  # ORT falls back to the CPU silently when a provider fails to load
            raise NotAvailable(
                f"onnxruntime did not load {', '.join(dropped)} (it runs {', '.join(sess.get_providers())}): "
                "refused rather than timing the CPU fallback under that name"
            )
        spinning = policy.describe()
        if "session.intra_op.allow_spinning" in config:
            spinning = {
                "spin_wait": config["session.intra_op.allow_spinning"] != "0",
                "spin_why": "the manifest's session_config",
            }
        used = {
            "threads": threads,
            "inter_op_threads": 1,
            "execution_mode": "sequential",
            **spinning,
            "graph_optimization_level": level,
            "providers": sess.get_providers(),
            # what ORT reports (its CPU provider reports none), and what the manifest asked each to take
            "provider_options": {k: dict(v) for k, v in sess.get_provider_options().items()},
            "providers_asked": [list(p) if isinstance(p, tuple) else p for p in providers]
            if opts.get("providers")
            else None,
            "session_config": config or None,
            "device": device,
            "version": version_of("onnxruntime"),
        }
        if ort_decoder.is_decoder_graph(sess):  # past_key_values inputs: a decoder, driven token by token
            return ort_decoder.OrtDecoderSession(sess, artifact, used)  # type: ignore[return-value]
        return OrtSession(sess, artifact, used)


def _name(provider: Any) -> str:
    return provider[0] if isinstance(provider, tuple) else str(provider)


def _text(value: Any) -> str:
    """A manifest scalar as ORT wants its option values (strings; booleans as 1/0)."""
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def _providers(spec: str | None, kernel: bool, asked: list[Any] | None = None) -> tuple[list[Any], str]:
    """The execution providers: the manifest's ``providers`` (each checked present in this build), else
    those for ``device:`` (CUDA first, the CPU for what it lacks); and the device they compute on."""
    kind, index = accelerator(spec)
    if asked:
        if kernel:
            raise NotAvailable("onnxruntime: providers apply to models; kernels run on the CPU")
        available = ort.get_available_providers()
        chosen: list[Any] = []
        for entry in asked:
            name, opts = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
            if name not in available:
                raise NotAvailable(
                    f"onnxruntime {version_of('onnxruntime')} here offers {', '.join(available)}, not {name} "
                    "(GPU providers come with onnxruntime-gpu, OpenVINO's with onnxruntime-openvino)"
                )
            chosen.append((name, {str(k): _text(v) for k, v in opts.items()}) if opts else name)
        first = _name(chosen[0])
        if first in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
            gpu = dict(chosen[0][1]).get("device_id", "0") if isinstance(chosen[0], tuple) else "0"
            return chosen, f"cuda:{gpu}"
        return chosen, "cpu" if first == "CPUExecutionProvider" else first.removesuffix("ExecutionProvider").lower()
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

    def timed_for(self, example: np.ndarray) -> Any:
        """The latency loop's call for inputs like ``example``: ``sess.run`` bound once, outputs as it gives them."""
        if self._batch is not None and len(example) != self._batch:
            return self.infer  # run in chunks of the model's fixed batch
        run, name = self._run, self._name

        def call(x: np.ndarray) -> Any:
            return run(None, {name: x})

        return call

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
