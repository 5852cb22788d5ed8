"""Quantization names a manifest may use. How each runtime realises one is the runner's business
(a prebuilt artifact from the zoo build, or a transform at prepare time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quantization:
    name: str
    bits: int
    description: str


FP32 = Quantization("fp32", 32, "float32 weights and activations (the reference)")
FP16 = Quantization("fp16", 16, "float16 weights (and activations where the runtime supports it)")
BF16 = Quantization("bf16", 16, "bfloat16 weights and activations")
INT8 = Quantization("int8", 8, "full integer: int8 weights and activations, calibrated on the train split")
INT8_DYNAMIC = Quantization("int8_dynamic", 8, "dynamic range: int8 weights, activations quantized at run time")
