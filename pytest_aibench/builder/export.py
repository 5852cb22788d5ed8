"""Exporters: one per ``framework/quantization`` variant, each writing one artifact.

Each takes the trained fp32 torch module, the recipe, the training data (for calibration) and the
output folder, and returns the card entry (file, format, method). An exporter whose tool is not
installed raises :class:`ExportSkipped`; the card records why that variant is missing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.builder.recipes import Recipe
from pytest_aibench.gen import onnx_export

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy("torch")
    nn = lazy("torch.nn")
import copy
import importlib


class ExportSkipped(Exception):
    """The variant cannot be built here (tool missing or unsupported); the message says why."""


#: What each kind of artifact promises across x86 instruction sets (AVX2-only vs AVX-512/VNNI CPUs),
#: recorded on the card as ``isa``: runtimes pick their kernels by CPUID, so the same file runs other code.
INTEGER_ORT = {
    "portable": True,
    "how": "7-bit weights (reduce_range: int8 weights in [-64, 64]) times uint8 activations: two products "
    "sum to at most 2*255*64 = 32,640 < 32,767, so MLAS's AVX2 kernels (vpmaddubsw adds pairs in int16 "
    "with saturation) cannot saturate and compute the same int32 accumulators as VNNI's; "
    "requantization is the same float arithmetic on every ISA",
}
INTEGER_XNNPACK = {
    "portable": True,
    "how": "full-integer int8: XNNPACK's qs8 kernels widen to int16 before multiplying (AVX2) or use VNNI with "
    "the zero-point correction folded into the bias (AVX-512), exact int32 accumulators either way "
    "(XNNPACK tests every kernel for equality with its scalar reference); requantization is the same "
    "float arithmetic on every ISA",
}


def floating(what: str) -> dict[str, Any]:
    """A variant whose arithmetic is (partly) floating point: identical predictions are not promised."""
    return {
        "portable": False,
        "how": f"{what}: the runtime picks float kernels by ISA (vector width and blocking change the "
        "summation order), so scores can differ in the last bits and a sample at a decision "
        "boundary can flip; the card's isa_check says what an AVX2-only CPU gave",
    }


Exporter = Callable[[Any, Recipe, np.ndarray, Path], dict[str, Any]]
EXPORTERS: dict[str, Exporter] = {}


def exporter(key: str) -> Callable[[Exporter], Exporter]:
    def register(fn: Exporter) -> Exporter:
        EXPORTERS[key] = fn
        return fn

    return register


def _require(module: str, extra: str) -> Any:

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ExportSkipped(f"{module} is not installed ({exc}); pip install 'pytest-aibench[{extra}]'") from None


def _example(recipe: Recipe, batch: int = 2) -> Any:
    return torch.zeros((batch, *[int(d or 1) for d in recipe.input_shape[1:]]))


def _dynamic(recipe: Recipe) -> tuple[dict[int, Any], ...]:
    """Batch always dynamic; height and width too for image models (any resolution a multiple of 8)."""
    dims: dict[int, Any] = {0: torch.export.Dim("batch", min=1, max=4096)}
    if len(recipe.input_shape) == 4 and recipe.resizable:
        side = torch.export.Dim("side", min=1, max=64)
        dims[2] = dims[3] = 8 * side
    return (dims,)


def calibration(x: np.ndarray, n: int) -> list[np.ndarray]:
    """The first ``n`` training samples, one per batch (what every static quantizer sees)."""
    return [x[i : i + 1] for i in range(min(n, len(x)))]


@exporter("torch/fp32")
def torch_fp32(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    torch.save(model.state_dict(), out / "model.pt")
    return {
        "file": "model.pt",
        "format": "pt",
        "method": "state_dict (torch.load weights_only=True)",
        "isa": floating("fp32 (ATen/oneDNN)"),
    }


def unfoldable_batchnorm_to_affine(model: Any) -> Any:
    """A copy of ``model`` whose BatchNorms that follow no convolution are the identical per-channel
    affine op. torchao's pt2e prepare folds a BatchNorm into the preceding convolution even when that
    convolution's output has other users (DenseNet's concatenations), which corrupts them; a
    pre-activation BatchNorm has no convolution of its own to fold into anyway."""

    class Affine(nn.Module):
        def __init__(self, bn: Any):
            super().__init__()
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            self.register_buffer("scale", scale.reshape(1, -1, 1, 1))
            self.register_buffer("shift", (bn.bias.detach() - bn.running_mean * scale).reshape(1, -1, 1, 1))

        def forward(self, x: Any) -> Any:
            return x * self.scale + self.shift

    model = copy.deepcopy(model)
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i, child in enumerate(list(seq)):
            if isinstance(child, nn.BatchNorm2d) and (i == 0 or not isinstance(seq[i - 1], nn.Conv2d)):
                seq[i] = Affine(child)
    return model.eval()


@exporter("torch/int8")
def torch_int8(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    _require("torchao", "build")
    model = unfoldable_batchnorm_to_affine(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pt2e = _require("torchao.quantization.pt2e.quantize_pt2e", "build")
        xiq = _require("torchao.quantization.pt2e.quantizer.x86_inductor_quantizer", "build")

        quantizer = xiq.X86InductorQuantizer()
        quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
        program = torch.export.export(model, (_example(recipe),), dynamic_shapes=_dynamic(recipe))
        prepared = pt2e.prepare_pt2e(program.module(), quantizer)
        with torch.no_grad():
            for batch in calibration(x, recipe.calibration):
                prepared(torch.from_numpy(batch))
        converted = pt2e.convert_pt2e(prepared)
        final = torch.export.export(converted, (_example(recipe),), dynamic_shapes=_dynamic(recipe))
        torch.export.save(final, str(out / "model.int8.pt2"))
    return {
        "file": "model.int8.pt2",
        "format": "pt2",
        "method": f"torchao pt2e X86InductorQuantizer static int8, {recipe.calibration} train samples; "
        "runs as reference quantize/dequantize ops in eager mode",
        "isa": floating(
            "reference quantize/dequantize around fp32 convolutions (oneDNN); rounding to int8 "
            "after each layer makes a flip rare, not impossible"
        ),
    }


def _onnx_fp32(model: Any, recipe: Recipe, out: Path) -> Path:
    path = out / "model.onnx"
    if not path.exists() and callable(getattr(model, "export_forward", None)):  # a decoder: its KV cache too
        onnx_export.export_onnx(model, path)
    if not path.exists():
        axes = {0: "batch", 2: "height", 3: "width"} if recipe.resizable else {0: "batch"}
        with warnings.catch_warnings():  # the TorchScript exporter is deprecated, but fast and needs no onnxscript
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (_example(recipe, 1),),
                str(path),
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": axes, "logits": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
    return path


@exporter("onnxruntime/fp32")
def onnx_fp32(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    _require("onnx", "onnx")
    return {
        "file": _onnx_fp32(model, recipe, out).name,
        "format": "onnx",
        "method": "torch.onnx.export opset 17",
        "isa": floating("fp32 (MLAS)"),
    }


class _Reader:
    """onnxruntime.quantization CalibrationDataReader over calibration samples."""

    def __init__(self, batches: list[np.ndarray]):
        self._it = iter([{"input": b} for b in batches])

    def get_next(self) -> dict | None:
        return next(self._it, None)


@exporter("onnxruntime/int8")
def onnx_int8(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    q = _require("onnxruntime.quantization", "onnx")
    shape_inference = _require("onnxruntime.quantization.shape_inference", "onnx")

    pre = out / "model.pre.onnx"
    shape_inference.quant_pre_process(str(_onnx_fp32(model, recipe, out)), str(pre), skip_symbolic_shape=True)
    q.quantize_static(
        str(pre),
        str(out / "model.int8.onnx"),
        _Reader(calibration(x, recipe.calibration)),
        quant_format=q.QuantFormat.QDQ,
        per_channel=True,
        weight_type=q.QuantType.QInt8,
        activation_type=q.QuantType.QUInt8,
        reduce_range=True,
    )
    pre.unlink()
    return {
        "file": "model.int8.onnx",
        "format": "onnx",
        "method": f"onnxruntime quantize_static, QDQ, per-channel 7-bit weights (reduce_range), uint8 "
        f"activations, {recipe.calibration} train samples",
        "isa": INTEGER_ORT,
    }


@exporter("onnxruntime/int8_dynamic")
def onnx_int8_dynamic(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    q = _require("onnxruntime.quantization", "onnx")

    q.quantize_dynamic(
        str(_onnx_fp32(model, recipe, out)),
        str(out / "model.int8_dynamic.onnx"),
        weight_type=q.QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gemm", "LSTM"],
        reduce_range=True,
    )
    return {
        "file": "model.int8_dynamic.onnx",
        "format": "onnx",
        "method": "onnxruntime quantize_dynamic on MatMul/Gemm/LSTM, 7-bit weights (reduce_range); dynamic conv "
        "quantization is slower and less accurate on CPU",
        "isa": floating(
            "integer MatMul/Gemm/LSTM cannot saturate (7-bit weights), but the convolutions and the "
            "dynamic activation ranges are fp32"
        ),
    }


@exporter("onnxruntime/int4_weight")
def onnx_int4_weight(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    _require("onnx_ir", "onnx")
    onnx_export.quantize_int4(_onnx_fp32(model, recipe, out), out / "model.int4_weight.onnx")
    return {
        "file": "model.int4_weight.onnx",
        "format": "onnx",
        "method": f"onnxruntime MatMulNBits quantizer: 4-bit symmetric weights in blocks of {onnx_export.INT4_BLOCK}",
        "isa": floating("4-bit weights dequantized in the kernel, float activations"),
    }


@exporter("onnxruntime/fp16")
def onnx_fp16(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    onnx = _require("onnx", "onnx")
    # onnxruntime's own converter, always: every install has it (the onnx extra), so the bytes, which the
    # published lock pins, never depend on whether onnxconverter-common happens to be installed too
    float16 = _require("onnxruntime.transformers.float16", "onnx")
    tool = "onnxruntime.transformers"
    half = float16.convert_float_to_float16(onnx.load(str(_onnx_fp32(model, recipe, out))), keep_io_types=True)
    onnx.save(half, str(out / "model.fp16.onnx"))
    return {
        "file": "model.fp16.onnx",
        "format": "onnx",
        "method": f"{tool} float16, float32 I/O",
        "isa": floating("float16 weights computed in fp32 (ORT's CPU casts)"),
    }


def _tflite_fp32(model: Any, recipe: Recipe, out: Path) -> Path:
    path = out / "model.tflite"
    if not path.exists():
        litert_torch = _require("litert_torch", "build")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if recipe.tflite_batch:
                converted = litert_torch.convert(model, (_example(recipe, recipe.tflite_batch),))
            else:
                converted = litert_torch.convert(model, (_example(recipe),), dynamic_shapes=_dynamic(recipe))
        converted.export(str(path))
    return path


@exporter("litert/fp32")
def litert_fp32(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    shapes = f"fixed batch {recipe.tflite_batch}" if recipe.tflite_batch else "dynamic batch and resolution"
    return {
        "file": _tflite_fp32(model, recipe, out).name,
        "format": "tflite",
        "method": f"litert-torch convert ({shapes})",
        "isa": floating("fp32 (XNNPACK)"),
    }


def _quantize_tflite(model: Any, recipe: Recipe, x: np.ndarray, out: Path, name: str, kind: str) -> Path:
    aq = _require("ai_edge_quantizer", "build")
    recipes = _require("ai_edge_quantizer.recipe", "build")
    recipe_manager = _require("ai_edge_quantizer.recipe_manager", "build")
    algorithms = _require("ai_edge_quantizer.algorithm_manager", "build")

    src = _tflite_fp32(model, recipe, out)
    if kind == "dynamic":
        rec = recipes.dynamic_wi8_afp32()
    elif kind == "static":
        rec = recipes.static_wi8_ai8()
    else:  # float16 weights, float compute
        manager = recipe_manager.RecipeManager()
        manager.add_weight_only_config(
            regex=".*",
            operation_name=recipes.TFLOperationName.ALL_SUPPORTED,
            num_bits=16,
            algorithm_key=algorithms.AlgorithmName.FLOAT_CASTING,
        )
        rec = manager.get_quantization_recipe()
    quantizer = aq.Quantizer(str(src))
    quantizer.load_quantization_recipe(rec)
    if kind == "static":
        interpreter = _require("ai_edge_litert.interpreter", "litert")
        signature = interpreter.Interpreter(str(src)).get_signature_runner()
        input_name = next(iter(signature.get_input_details()))
        result = quantizer.quantize(
            quantizer.calibrate(
                {"serving_default": [{input_name: b} for b in calibration(x, recipe.calibration)]}, num_threads=2
            )
        )
    else:
        result = quantizer.quantize()
    path = out / name
    result.export_model(str(path), overwrite=True)
    return path


#: the ops that carry the weights: a quantized model whose weights stay float in any of them is not the
#: variant it is named after (TFLite has no integer CONV_3D, so ai-edge-quantizer leaves it float)
_WEIGHTED_OPS = ("CONV_2D", "CONV_3D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


def require_integer_weights(path: Path, what: str) -> None:
    """Refuse a "quantized" file whose weighted ops kept float weights: shipped as int8, it would time
    float kernels between quantize/dequantize pairs and call that int8."""
    interpreter = _require("ai_edge_litert.interpreter", "litert")
    it = interpreter.Interpreter(model_path=str(path))
    dtypes = {t["index"]: np.dtype(t["dtype"]) for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    made = {i for op in ops for i in op["outputs"]} | {d["index"] for d in it.get_input_details()}
    # a weight is a constant tensor; an operand another op computes (an interaction's batched product) is not
    weighted = [op for op in ops if op["op_name"] in _WEIGHTED_OPS and len(op["inputs"]) > 1]
    weighted = [op for op in weighted if op["inputs"][1] not in made]
    left = [op["op_name"] for op in weighted if dtypes.get(op["inputs"][1]) == np.float32]
    floating_ops = sorted(set(left))
    if floating_ops:
        count = len(left)
        path.unlink()
        raise ExportSkipped(
            f"ai-edge-quantizer left {count} of {len(weighted)} weighted ops in float32 ({', '.join(floating_ops)}: "
            f"LiteRT has no integer kernel for them), so the file is not {what}: not shipped"
        )


@exporter("litert/int8_dynamic")
def litert_int8_dynamic(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    path = _quantize_tflite(model, recipe, x, out, "model.int8_dynamic.tflite", "dynamic")
    require_integer_weights(path, "dynamic-range int8")
    return {
        "file": path.name,
        "format": "tflite",
        "method": "ai-edge-quantizer dynamic_wi8_afp32 (dynamic range)",
        "isa": floating("int8 weights with activations quantized at run time from fp32 ranges, between fp32 ops"),
    }


@exporter("litert/int8")
def litert_int8(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    path = _quantize_tflite(model, recipe, x, out, "model.int8.tflite", "static")
    require_integer_weights(path, "full-integer int8")
    return {
        "file": path.name,
        "format": "tflite",
        "method": f"ai-edge-quantizer static_wi8_ai8 (full integer, int8 I/O), {recipe.calibration} train samples",
        "isa": INTEGER_XNNPACK,
    }


@exporter("litert/fp16")
def litert_fp16(model: Any, recipe: Recipe, x: np.ndarray, out: Path) -> dict[str, Any]:
    path = _quantize_tflite(model, recipe, x, out, "model.fp16.tflite", "fp16")
    return {
        "file": path.name,
        "format": "tflite",
        "method": "ai-edge-quantizer float_casting: float16 weights",
        "isa": floating("float16 weights computed in fp32 (XNNPACK)"),
    }
