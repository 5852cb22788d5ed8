"""LiteRT (TFLite) runner: ``ai-edge-litert``'s interpreter with its default XNNPACK CPU delegate;
``tflite_runtime`` only when that is what is installed (it breaks with numpy 2)."""

from __future__ import annotations

import functools
import importlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.runtimes import (
    RuntimeOption,
    accelerator,
    adapt_input,
    check_shape,
    no_device,
    output_index,
    runtime_options,
    version_of,
)

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.model import Settings
    from pytest_aibench.sim.node import Node


def _interpreter_class() -> tuple[Any, str]:
    if importlib.util.find_spec("ai_edge_litert") is not None:
        return importlib.import_module("ai_edge_litert.interpreter").Interpreter, "ai-edge-litert"
    return importlib.import_module("tflite_runtime.interpreter").Interpreter, "tflite-runtime"


#: built-in ``delegate`` values -> the interpreter's op resolver (XNNPACK is the default delegate of AUTO)
_RESOLVERS = {"xnnpack": "AUTO", "none": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "reference": "BUILTIN_REF"}


def _delegate_check(value: Any) -> str | None:
    if isinstance(value, str) and value in _RESOLVERS:
        return None
    if isinstance(value, dict) and isinstance(value.get("library"), str) and set(value) <= {"library", "options"}:
        opts = value.get("options", {})
        if isinstance(opts, dict) and all(isinstance(v, (str, int, float, bool)) for v in opts.values()):
            return None
    return f"got {value!r}"


def _interpreter_kwargs(module_name: str, delegate: Any) -> tuple[dict[str, Any], str]:
    """The interpreter's keyword arguments for ``delegate``, and what the result records about it."""
    if delegate is None or delegate == "xnnpack":
        return {}, "XNNPACK (interpreter default)"
    mod = importlib.import_module(module_name)
    if isinstance(delegate, str):
        resolver = getattr(mod.OpResolverType, _RESOLVERS[delegate])
        label = "none (built-in kernels)" if delegate == "none" else "none (reference kernels)"
        return {"experimental_op_resolver_type": resolver}, label
    library = str(delegate["library"])
    if not Path(library).is_file() and "/" in library:
        raise NotAvailable(f"LiteRT delegate library {library} is not on this machine")
    options = {str(k): str(v) for k, v in (delegate.get("options") or {}).items()}
    try:
        loaded = mod.load_delegate(library, options)
    except (OSError, ValueError, RuntimeError) as exc:
        raise NotAvailable(f"LiteRT cannot load delegate {library}: {str(exc).strip().splitlines()[0]}") from None
    return {"experimental_delegates": [loaded]}, f"{library} {options or ''}".strip()


class LiteRTRunner:
    name = "litert"
    package = "ai-edge-litert"
    install_hint = "pip install 'pytest-aibench[litert]' (ai-edge-litert)"
    formats = ("tflite",)
    options = {
        "delegate": RuntimeOption(
            "xnnpack, none, reference, or {library: path, options: {key: value}}",
            _delegate_check,
            "xnnpack (default): the interpreter's XNNPACK delegate; none: LiteRT's built-in kernels alone; "
            "reference: its reference kernels; a library: a vendor's external delegate (load_delegate), "
            "skipped with the reason where it cannot load.",
        ),
    }

    @property
    def module(self) -> str:
        return (
            "ai_edge_litert"
            if importlib.util.find_spec("ai_edge_litert") is not None
            or importlib.util.find_spec("tflite_runtime") is None
            else "tflite_runtime"
        )

    def derives(self, quantization: str, fmt: str) -> bool:
        return False  # every LiteRT variant is a build artifact (ai-edge-quantizer recipes)

    def prepare(self, artifact: ModelArtifact, node: Node, settings: Settings) -> LiteRTSession:

        if accelerator(settings.device)[0] != "cpu":
            raise no_device(
                "litert", settings.device, "this runner runs LiteRT's CPU path (XNNPACK); no GPU/NPU delegate"
            )
        interpreter_class, dist = _interpreter_class()
        threads = settings.threads or node.threads
        if not artifact.path.is_file():
            raise ArtifactError(f"model file {artifact.path} not found")
        kwargs, delegate = _interpreter_kwargs(
            interpreter_class.__module__, runtime_options(settings, self.name).get("delegate")
        )
        content = artifact.path.read_bytes()  # read once: later interpreters (shapes, rounds) map the same bytes
        make = functools.partial(interpreter_class, model_content=content, num_threads=threads, **kwargs)
        try:
            first = make()
            if -1 not in list(first.get_input_details()[0]["shape_signature"]):
                first.allocate_tensors()  # static shapes: allocate now; dynamic ones at the first real shape
        except Exception as exc:  # corrupt, truncated or not a flatbuffer
            raise ArtifactError(f"LiteRT cannot load {artifact.path}: {str(exc).strip().splitlines()[0]}") from None
        used = {
            "threads": threads,
            "delegate": delegate,
            "device": "cpu",
            "interpreter": dist,
            "version": version_of(dist),
        }
        return LiteRTSession(make, first, artifact, used)


class LiteRTSession:
    """One interpreter per input shape seen (resizing back and forth would reallocate every call).

    A model with dynamic dimensions is allocated only once a real shape arrives: its placeholder
    shape (1 for every dynamic dimension) can shrink feature maps to nothing and fail to prepare.
    A model with a fixed batch (most published .tflite files: batch 1) is resized to the batch asked
    for where LiteRT can; where it cannot (recurrent graphs), batches run in chunks of the fixed size."""

    def __init__(self, make: Any, first: Any, artifact: ModelArtifact, options: dict[str, Any]):
        self._make, self._artifact = make, artifact  # make(): a new interpreter, configured as the first
        inp = first.get_input_details()[0]
        outs = first.get_output_details()
        if isinstance(artifact.output, (list, tuple)):
            raise ArtifactError(
                f"{artifact.path.name} (litert): 'output: {list(artifact.output)}' names several outputs; this runner "
                "hands a task one (export the heads concatenated, or run the model on onnxruntime or torch)"
            )
        out = outs[output_index([str(o.get("name")) for o in outs], artifact.output, f"{artifact.path.name} (litert)")]
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_dtype = inp["dtype"]
        self._in_q = inp["quantization"]
        self._out_q = out["quantization"] if out["dtype"] in (np.int8, np.uint8) else None
        self._signature = list(inp["shape_signature"])
        self._static_batch = int(self._signature[0]) if self._signature and self._signature[0] > 0 else None
        self._chunked = False
        self._spare: Any = None
        self._by_shape: dict[tuple[int, ...], Any] = {}
        if -1 in self._signature:
            self._spare = first
        else:
            self._by_shape[tuple(inp["shape"])] = first
        self.options = {**options, "input_dtype": np.dtype(self._in_dtype).name}

    def adapt(self, x: np.ndarray) -> np.ndarray:
        spec = self._artifact.input
        out = adapt_input(x, "NCHW", spec)
        expected = [d if d > 0 else None for d in self._signature]
        expected[:1] = [None]  # any batch: resized, or run in chunks of a fixed batch
        check_shape(out, expected, f"{self._artifact.model} (litert)")
        if self._in_dtype in (np.int8, np.uint8):  # full-integer model: quantize once, outside timing
            scale, zero = self._in_q
            info = np.iinfo(self._in_dtype)
            out = np.clip(np.round(out / scale + zero), info.min, info.max).astype(self._in_dtype)
        return out

    def _interpreter(self, shape: tuple[int, ...]) -> Any:
        it = self._by_shape.get(shape)
        if it is None:
            it, self._spare = (
                self._spare or self._make(),
                None,
            )
            try:
                it.resize_tensor_input(self._in_index, list(shape), strict=True)
                it.allocate_tensors()
            except Exception as exc:
                if self._static_batch and list(shape[1:]) == self._signature[1:]:
                    self._chunked = True  # only the batch differs: feed the fixed batch instead
                    self.options["static_batch"] = f"{self._static_batch} (batches run in chunks)"
                    return None

                raise ArtifactError(
                    f"LiteRT cannot run {self._artifact.path.name} at input shape "
                    f"{list(shape)}: {str(exc).strip().splitlines()[0]}"
                ) from None
            self._by_shape[shape] = it
        return it

    def infer(self, batch: np.ndarray) -> np.ndarray:
        n = self._static_batch
        if self._chunked and len(batch) != n:
            return self._in_chunks(batch, n)
        it = self._by_shape.get(batch.shape) or self._interpreter(batch.shape)
        if it is None:
            return self._in_chunks(batch, n)
        it.set_tensor(self._in_index, batch)
        it.invoke()
        out = it.get_tensor(self._out_index)
        if self._out_q is not None:
            scale, zero = self._out_q
            return (out.astype(np.float32) - zero) * scale
        return out

    def timed_call(self, batch: np.ndarray) -> Any:
        """set / invoke / get, the int8 output left as it comes: its dequantization is scoring's, after
        timing (as the input's quantization is done before it)."""
        it = self._by_shape.get(batch.shape)
        if it is None or (self._chunked and len(batch) != self._static_batch):
            return self.infer(batch)
        it.set_tensor(self._in_index, batch)
        it.invoke()
        return it.get_tensor(self._out_index)

    def renew(self) -> LiteRTSession:
        """A fresh instance for an independent round: a new interpreter on the bytes read at prepare."""
        first = self._make()
        if -1 not in self._signature:
            first.allocate_tensors()
        return LiteRTSession(self._make, first, self._artifact, dict(self.options))

    def timed_for(self, example: np.ndarray) -> Any:
        """:meth:`timed_call` for inputs shaped like ``example``, its interpreter's calls bound once."""
        self.infer(example)  # allocates (or finds) the interpreter for this shape
        it = self._by_shape.get(example.shape)
        if it is None or (self._chunked and len(example) != self._static_batch):
            return self.timed_call
        set_tensor, invoke, get_tensor, i, o = it.set_tensor, it.invoke, it.get_tensor, self._in_index, self._out_index

        def call(x: np.ndarray) -> Any:
            set_tensor(i, x)
            invoke()
            return get_tensor(o)

        return call

    def _in_chunks(self, batch: np.ndarray, n: int | None) -> np.ndarray:
        assert n is not None
        outs = []
        for i in range(0, len(batch), n):
            part = batch[i : i + n]
            if len(part) < n:  # pad the last chunk to the fixed batch, keep only the real rows
                part = np.concatenate([part, np.repeat(part[-1:], n - len(part), axis=0)])
            outs.append(self.infer(np.ascontiguousarray(part))[: len(batch) - i])
        return np.concatenate(outs)

    def close(self) -> None:
        self._by_shape.clear()
