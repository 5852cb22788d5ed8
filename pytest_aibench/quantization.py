"""Quantization names a manifest may use. How each runtime realises one is the runner's business
(a prebuilt artifact from the zoo build, or a transform at prepare time)."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_aibench.registry import Registry


@dataclass(frozen=True)
class Quantization:
    name: str
    bits: int  # numeric precision of the arithmetic (AIPerf's validity rule reads it: not below 16)


FP32 = Quantization("fp32", 32)  # float32 weights and activations (the reference)
FP16 = Quantization("fp16", 16)  # float16 weights (and activations where the runtime can)
BF16 = Quantization("bf16", 16)  # bfloat16 weights and activations
INT8 = Quantization("int8", 8)  # full integer, calibrated on the train split
INT8_DYNAMIC = Quantization("int8_dynamic", 8)  # int8 weights, activations quantized at run time
INT8_WEIGHT = Quantization("int8_weight", 8)  # int8 weights dequantized in the kernel, float activations (LLMs)
INT4_WEIGHT = Quantization("int4_weight", 4)  # 4-bit weights in blocks of 32, float activations (LLMs)


QUANTIZATIONS: Registry[Quantization] = Registry(
    "quantization",
    "pytest_aibench.quantizations",
    {
        "fp32": "pytest_aibench.quantization:FP32",
        "fp16": "pytest_aibench.quantization:FP16",
        "bf16": "pytest_aibench.quantization:BF16",
        "int8": "pytest_aibench.quantization:INT8",
        "int8_dynamic": "pytest_aibench.quantization:INT8_DYNAMIC",
        "int8_weight": "pytest_aibench.quantization:INT8_WEIGHT",
        "int4_weight": "pytest_aibench.quantization:INT4_WEIGHT",
    },
)
