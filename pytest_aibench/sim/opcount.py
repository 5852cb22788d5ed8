"""What a model asks of a device, counted from its ONNX graph at batch 1: per operator kind (convolution,
depthwise convolution, GEMM, element-wise) the FLOPs, the bytes moved and the operators dispatched, with
the element-wise operators a runtime fuses into the convolution or GEMM before them counted there."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy

if TYPE_CHECKING:
    import onnx
else:
    onnx = lazy("onnx")

#: operator kinds, each with its own efficiency curve ("elementwise": bound by memory alone)
KINDS = ("conv", "depthwise", "gemm", "elementwise")
#: operators that move no data (a view, a shape, a constant): dispatch overhead only
_NO_DATA = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Shape", "Constant", "Identity", "Dropout"}
#: element-wise operators a runtime fuses into the convolution or GEMM that feeds them
_FUSABLE = {
    "Relu",
    "Clip",
    "LeakyRelu",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "BatchNormalization",
    "Add",
    "Mul",
    "Div",
    "Sub",
}
#: bytes per element of a precision's weights and activations
BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int8_dynamic": 1.0}


@dataclass
class Counts:
    """FLOPs, bytes moved and operators of one kind, per sample (fp32 bytes), and each operator's own."""

    flops: float = 0.0
    bytes: float = 0.0
    ops: int = 0
    each: list[tuple[float, float]] = field(default_factory=list)

    def add(self, flops: float, moved: float) -> None:
        self.flops += flops
        self.bytes += moved
        self.ops += 1
        self.each.append((flops, moved))


def _dims(t: Any) -> list[int] | None:
    dims = t.type.tensor_type.shape.dim
    if not all(d.HasField("dim_value") for d in dims):
        return None
    return [int(d.dim_value) for d in dims]


def _size(shape: list[int] | None) -> float:
    return float(np.prod(shape)) if shape else 0.0


def _node_work(node: Any, ins: list[list[int] | None], outs: list[list[int] | None]) -> tuple[str, float]:
    """An operator's kind and FLOPs at the given shapes."""
    o = outs[0] if outs else None
    kind, flops = "elementwise", _size(o)
    if node.op_type in ("Conv", "ConvTranspose") and o and len(ins) > 1 and ins[1]:
        w = ins[1]
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        flops = 2.0 * (_size(o) if node.op_type == "Conv" else _size(ins[0])) * float(np.prod(w[1:]))
        cin = ins[0][1] if ins[0] else 0
        kind = "depthwise" if group > 1 and group == cin else "conv"
    elif node.op_type in ("Gemm", "MatMul") and o and ins and ins[0]:
        kind, flops = "gemm", 2.0 * _size(o) * float(ins[0][-1])
    elif node.op_type in ("MaxPool", "AveragePool") and o:
        k = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), [1])
        flops = _size(o) * float(np.prod(k))
    elif node.op_type.startswith("Global") and ins and ins[0]:
        flops = _size(ins[0])
    return kind, 0.0 if node.op_type in _NO_DATA else flops


def _shapes(model: Any, sample: tuple[int, ...] | None) -> dict[str, list[int]] | None:
    """Every tensor's shape at batch 1, free sizes from ``sample`` (None when one stays free)."""
    inits = {i.name for i in model.graph.initializer}
    for inp in (i for i in model.graph.input if i.name not in inits):
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):  # batch 1
            dims[0].dim_value = 1
        for i, d in enumerate(list(dims)[1:]):  # a free size: the one the item runs at
            if not d.HasField("dim_value"):
                if sample is None or i >= len(sample):
                    return None
                d.dim_value = int(sample[i])
    g = onnx.shape_inference.infer_shapes(model).graph
    shapes = {t.name: dims for t in [*g.input, *g.value_info, *g.output] if (dims := _dims(t)) is not None}
    shapes.update({init.name: list(init.dims) for init in g.initializer})
    return shapes


@lru_cache(maxsize=64)
def _count_file(path: str, mtime_ns: int, sample: tuple[int, ...] | None) -> dict[str, Counts]:
    model = onnx.load(path)
    shapes = _shapes(model, sample)
    if shapes is None:
        return {}
    inits = {i.name for i in model.graph.initializer}
    out = {k: Counts() for k in KINDS}
    consumers: dict[str, int] = {}
    for node in model.graph.node:
        for n in node.input:
            consumers[n] = consumers.get(n, 0) + 1
    fused_into: dict[str, tuple[str, int]] = {}  # tensor -> the (kind, index) of the operator that wrote it
    for node in model.graph.node:
        ins = [shapes.get(n) for n in node.input if n]
        outs = [shapes.get(n) for n in node.output if n]
        kind, flops = _node_work(node, ins, outs)
        host = next((fused_into[n] for n in node.input if n in fused_into and consumers.get(n) == 1), None)
        if kind == "elementwise" and node.op_type in _FUSABLE and host is not None:
            # runtimes fuse an activation, a folded BatchNorm or a residual Add into the operator before it:
            # its work joins that operator's, with no dispatch or round trip through memory of its own
            hk, hi = host
            f0, b0 = out[hk].each[hi]
            extra = sum(_size(shapes.get(n)) for n in node.input if n and n not in fused_into and n not in inits) * 4.0
            out[hk].each[hi] = (f0 + flops, b0 + extra)
            out[hk].flops += flops
            out[hk].bytes += extra
            fused_into.update({n: host for n in node.output})
            continue
        moved = 0.0 if node.op_type in _NO_DATA else 4.0 * (sum(map(_size, ins)) + sum(map(_size, outs)))
        out[kind].add(flops, moved)
        if kind != "elementwise":
            fused_into.update({n: (kind, out[kind].ops - 1) for n in node.output})
    return out


def count(path: Path | str, sample: tuple[int, ...] | None = None) -> dict[str, Counts]:
    """Per-kind FLOPs, bytes and operators of an ONNX model at batch 1, free sizes taken from ``sample``
    (one sample's shape, without the batch); empty when a size stays unknown."""
    p = Path(path)
    return _count_file(str(p), p.stat().st_mtime_ns, tuple(int(v) for v in sample) if sample is not None else None)


def onnx_of(artifact: Any) -> Path | None:
    """The ONNX fp32 file of an item's model: the artifact itself, or its card's ``onnxruntime/fp32``."""
    if getattr(artifact, "format", None) == "onnx" and str(getattr(artifact, "key", "")).endswith("fp32"):
        return Path(artifact.path)
    card = getattr(artifact, "card", None)
    entry = card.artifacts.get("onnxruntime/fp32") if card is not None else None
    if card is not None and entry and (card.folder / entry["file"]).is_file():
        return Path(card.folder) / entry["file"]
    if getattr(artifact, "format", None) == "onnx":
        return Path(artifact.path)
    return None
