"""OpenVINO (CPU) runner: reads the zoo's ONNX artifacts directly, fp32 and the QDQ int8 files.

OpenVINO turns an ONNX graph's QuantizeLinear/DequantizeLinear pairs into int8 kernels itself (its
low-precision transformations), so the int8 variant is the same file ONNX Runtime times. Where the CPU
has bf16 units (AVX-512 BF16, AMX), OpenVINO would by default run an fp32 model in bf16: the runner
asks for f32 inference precision, so an fp32 item is fp32 on every CPU, and records what it asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.errors import ArtifactError
from pytest_aibench.runtimes import (
    RuntimeOption,
    accelerator,
    adapt_input,
    check_shape,
    no_device,
    one_of,
    output_index,
    output_indices,
    runtime_options,
    version_of,
)
from pytest_aibench.tasks import raw

if TYPE_CHECKING:
    import openvino as ov

    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.model import Settings
    from pytest_aibench.sim.node import Node
else:
    ov = lazy("openvino")


class OpenVinoRunner:
    name = "openvino"
    module = "openvino"
    package = "openvino"
    install_hint = "pip install 'pytest-aibench[openvino]'"
    formats = ("onnx",)
    options = {
        "performance_hint": RuntimeOption(
            "latency or throughput",
            one_of("latency", "throughput"),
            "OpenVINO's PERFORMANCE_HINT (default latency, one stream).",
        ),
        "inference_precision": RuntimeOption(
            "f32, bf16 or f16",
            one_of("f32", "bf16", "f16"),
            "INFERENCE_PRECISION_HINT (default f32: an fp32 item computes in fp32 on a bf16-capable CPU).",
        ),
    }

    def derives(self, quantization: str, fmt: str) -> bool:
        return False  # the int8 variant is the zoo's QDQ ONNX file, which OpenVINO lowers to int8 kernels

    def prepare(self, artifact: ModelArtifact, node: Node, settings: Settings) -> OpenVinoSession:
        threads = settings.threads or node.threads
        if not artifact.path.is_file():
            raise ArtifactError(f"model file {artifact.path} not found")
        core = ov.Core()
        target = _target(core, settings.device)
        opts = runtime_options(settings, self.name)
        hint = str(opts.get("performance_hint", "latency")).upper()
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": hint,
            # not bf16 behind an fp32 item's back on AMX/AVX-512 BF16 CPUs, unless the manifest asks for it
            "INFERENCE_PRECISION_HINT": opts.get("inference_precision", "f32"),
        }
        if hint == "LATENCY":
            config["NUM_STREAMS"] = 1
        try:
            model = core.read_model(str(artifact.path))
            compiled = core.compile_model(model, target, config if target == "CPU" else {})
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses of its own
            first = (str(exc).strip().splitlines() or [""])[0]
            raise ArtifactError(f"OpenVINO cannot load {artifact.path}: {first}") from None
        used = {
            "threads": threads,
            "device": target,
            "device_name": str(core.get_property(target, "FULL_DEVICE_NAME")),
            "streams": int(compiled.get_property("NUM_STREAMS")) if target == "CPU" else None,
            "performance_hint": hint,
            "inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            "weighted_ops": _weighted_ops(compiled),  # what ran in int8 (u8/i8) and what in f32: not assumed
            "version": version_of("openvino"),
        }
        return OpenVinoSession(compiled, artifact, used)


def _target(core: Any, spec: str | None) -> str:
    """OpenVINO's device name for ``device:`` (cpu -> CPU, gpu:1 -> GPU.1, npu -> NPU), checked here."""
    kind, index = accelerator(spec)
    if kind == "cuda":
        raise no_device("openvino", spec, "OpenVINO drives Intel CPUs, GPUs and NPUs (device: gpu or npu), not CUDA")
    name = kind.upper() + (f".{index}" if kind == "gpu" and index else "")
    if (
        kind != "cpu"
        and name not in core.available_devices
        and not (name == "GPU" and "GPU.0" in core.available_devices)
    ):
        raise no_device("openvino", spec, f"OpenVINO here offers {', '.join(core.available_devices)}")
    return name


#: the execution graph's layers that carry weights
_WEIGHTED = ("Convolution", "GroupConvolution", "Deconvolution", "FullyConnected", "MatMul")


def _weighted_ops(compiled: Any) -> dict[str, int]:
    """``{"Convolution u8": 3, ...}``: each weighted layer of the compiled graph by the precision it runs in."""
    counts: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        if kind in _WEIGHTED:
            key = f"{kind} {info['runtimePrecision'].astype(str) if 'runtimePrecision' in info else '?'}"
            counts[key] = counts.get(key, 0) + 1
    return counts


class OpenVinoSession:
    def __init__(self, compiled: Any, artifact: ModelArtifact, options: dict[str, Any]):
        where = f"{artifact.path.name} (openvino)"
        inputs = compiled.inputs
        if len(inputs) != 1:
            names = ", ".join(i.get_any_name() for i in inputs)
            raise ArtifactError(f"{where}: the model has {len(inputs)} inputs ({names}); aibench feeds one batch")
        inp = inputs[0]
        shape = inp.get_partial_shape()
        self._shape = [d.get_length() if d.is_static else None for d in shape]
        self._dtype = np.dtype(inp.get_element_type().to_dtype())
        out_names = [o.get_any_name() for o in compiled.outputs]
        self._outs = output_indices(out_names, artifact.output, where)
        one = None if isinstance(artifact.output, tuple) else artifact.output
        self._out = self._outs[0] if self._outs else output_index(out_names, one, where)
        self._out_names = [out_names[i] for i in self._outs] if self._outs else []
        self._batch = self._shape[0] if self._shape and isinstance(self._shape[0], int) else None
        self._artifact = artifact
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self.options = {**options, "input": inp.get_any_name(), "output": out_names[self._out]}
        if self._batch is not None:
            self.options["fixed_batch"] = self._batch

    def adapt(self, x: np.ndarray) -> np.ndarray:
        out = adapt_input(x, "NCHW", self._artifact.input, self._dtype)
        check_shape(out, self._shape, f"{self._artifact.model} (openvino)")
        return out

    def _run(self, batch: np.ndarray) -> Any:
        request = self._request
        request.infer({0: batch})
        if self._outs:  # copies: the request's tensors are overwritten by the next call
            return {
                k: request.get_output_tensor(i).data.copy() for k, i in zip(self._out_names, self._outs, strict=True)
            }
        return request.get_output_tensor(self._out).data.copy()

    def infer(self, batch: np.ndarray) -> Any:
        if self._batch is None or len(batch) == self._batch:
            return self._run(batch)
        return raw.in_fixed_batches(batch, self._batch, self._run)  # a fixed-batch model: chunks of its size

    def renew(self) -> OpenVinoSession:
        """A fresh instance for an independent round: a new infer request on the compiled model (OpenVINO
        compiles once; reading and compiling again would only repeat the same work)."""
        return OpenVinoSession(self._compiled, self._artifact, {k: v for k, v in self.options.items()})

    def close(self) -> None:
        self._request = None
        self._compiled = None
