"""What the build step makes: one recipe per zoo model (family, config, dataset, training)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recipe:
    name: str
    family: str
    config: dict[str, Any]
    dataset: dict[str, Any]                 # a DatasetSpec's fields: source, split_seed, eval_fraction, params
    input_shape: tuple[int | None, ...]
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    #: "framework/quantization" variants to export
    variants: tuple[str, ...] = ("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8",
                                 "onnxruntime/int8_dynamic", "onnxruntime/fp16")
    notes: dict[str, Any] = field(default_factory=dict)


RECIPES: dict[str, Recipe] = {
    "tinycnn-digits": Recipe(
        name="tinycnn-digits", family="tinycnn", config={"width": 16, "num_classes": 10, "in_channels": 1},
        dataset={"source": "digits", "split_seed": 0, "eval_fraction": 0.25},
        input_shape=(None, 1, 8, 8), epochs=30),
}
