"""Export a decoder with its KV cache to ONNX, in the naming ONNX Runtime's generators read."""

from __future__ import annotations

import importlib
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")


def export_onnx(model: Any, path: Path) -> None:
    """``model`` (a :mod:`~pytest_aibench.gen.arch` decoder) as an ONNX graph with past key/values in and
    present key/values out, batch and lengths dynamic (the TorchScript exporter: fast, no onnxscript)."""

    layers = model.layers_n
    past_names = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    out_names = ["logits", *[n.replace("past_key_values", "present") for n in past_names]]

    class Export(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, ids: Any, *flat: Any) -> Any:
            return self.m.export_forward(ids, *flat)

    past = [torch.zeros(1, model.kv_heads, 3, model.head_dim) for _ in past_names]
    axes = {"input_ids": {0: "batch", 1: "new"}, "logits": {0: "batch", 1: "new"}}
    axes |= {n: {0: "batch", 2: "past"} for n in past_names} | {n: {0: "batch", 2: "total"} for n in out_names[1:]}
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
        warnings.simplefilter("ignore")
        _export(Export(), past, past_names, out_names, axes, path)


def _export(module: Any, past: list[Any], past_names: list[str], out_names: list[str], axes: Any, path: Path) -> None:
    torch.onnx.export(
        module, (torch.zeros(1, 2, dtype=torch.long), *past), str(path), input_names=["input_ids", *past_names],
        output_names=out_names, dynamic_axes=axes, opset_version=17, dynamo=False,
    )  # fmt: skip


#: MatMulNBits' block: 32 weights share a scale (onnxruntime-genai's default for CPU int4)
INT4_BLOCK = 32


def quantize_int4(src: Path, dst: Path) -> None:
    """``src``'s MatMul weights as 4-bit blocks (onnxruntime's MatMulNBits quantizer, symmetric): the
    int4 weight-only format ONNX Runtime's CPU kernels run for LLMs."""
    onnx = importlib.import_module("onnx")
    nbits = importlib.import_module("onnxruntime.quantization.matmul_nbits_quantizer")
    quiet = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").level
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    try:
        q = nbits.MatMulNBitsQuantizer(onnx.load(str(src)), block_size=INT4_BLOCK, is_symmetric=True)
        q.process()
        q.model.save_model_to_file(str(dst))
    finally:
        logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(quiet)
