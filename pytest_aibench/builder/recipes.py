"""What the build step makes: one recipe per zoo model (family, config, dataset, training, variants)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import Dataset, materialize

#: every variant the exporters can make, in card order
ALL_VARIANTS = (
    "torch/fp32",
    "torch/int8",
    "onnxruntime/fp32",
    "onnxruntime/int8",
    "onnxruntime/int8_dynamic",
    "onnxruntime/fp16",
    "litert/fp32",
    "litert/int8",
    "litert/int8_dynamic",
    "litert/fp16",
)


@dataclass(frozen=True)
class Recipe:
    name: str
    family: str
    config: dict[str, Any]
    dataset: dict[str, Any]  # a DatasetSpec's fields: source, split_seed, eval_fraction, params
    input_shape: tuple[int | None, ...]
    layout: str = "NCHW"  # NTC for sequences (batch, time, channels)
    #: LiteRT export with this fixed batch where a dynamic batch will not convert (recurrent graphs)
    tflite_batch: int | None = None
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    #: training threads, fixed: float summation order (so the weights) depends on the thread count
    threads: int = 2
    #: input resolutions trained on, alternating batches (the first is the card's base); image models only
    resolutions: tuple[int, ...] = ()
    resizable: bool = False  # exported with dynamic height/width
    calibration: int = 256  # train samples for static quantization
    #: a variant losing more top-1 accuracy than this against the same model's fp32 is not shipped
    max_accuracy_drop: float = 0.05
    variants: tuple[str, ...] = ALL_VARIANTS
    notes: dict[str, Any] = field(default_factory=dict)
    #: what the model is trained for and judged by (pytest_aibench.tasks): its loss and its card's headline
    task: str = "classification"


SHAPES = {
    "source": "shapes",
    "split_seed": 0,
    "eval_fraction": 0.25,
    "params": {"samples": 3000, "size": 32, "classes": 10, "seed": 0},
}


def _aiot(family: str, width: float, depth: float = 1.0, epochs: int = 8, lr: float = 4e-3) -> Recipe:
    return Recipe(
        name=f"{family}-shapes",
        family=family,
        config={"width": width, "depth": depth, "num_classes": 10, "in_channels": 3},
        dataset=SHAPES,
        input_shape=(None, 3, 32, 32),
        epochs=epochs,
        lr=lr,
        resolutions=(32, 48),
        resizable=True,
    )


def _scenario(
    name: str,
    family: str,
    config: dict[str, Any],
    source: str,
    params: dict[str, Any],
    shape: tuple[int | None, ...],
    epochs: int,
    lr: float = 4e-3,
    **kw: Any,
) -> Recipe:
    """An Edge AI Bench scenario model, trained on its own seeded dataset."""
    return Recipe(
        name=name,
        family=family,
        config=config,
        input_shape=shape,
        epochs=epochs,
        lr=lr,
        dataset={"source": source, "split_seed": 0, "eval_fraction": 0.25, "params": params},
        **kw,
    )


#: Edge AI Bench's scenarios: ICU monitoring, smart-home faces, surveillance re-ID, driving signs
EDGE_AI = (
    _scenario(
        "lstm-vitals",
        "lstm",
        {"num_classes": 2, "in_channels": 5, "hidden": 32, "layers": 1},
        "vitals",
        {"samples": 2000, "steps": 48, "positive_fraction": 0.3, "seed": 0},
        (None, 48, 5),
        epochs=30,
        lr=5e-3,
        layout="NTC",
        tflite_batch=1,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8_dynamic", "litert/fp32", "litert/int8_dynamic"),
    ),
    _scenario(
        "tinycnn-faces",
        "tinycnn",
        {"width": 16, "num_classes": 2, "in_channels": 1},
        "lfw_subset",
        {},
        (None, 1, 25, 25),
        epochs=60,
        lr=5e-3,
        batch_size=32,
        calibration=64,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8", "litert/fp32", "litert/int8"),
    ),
    _scenario(
        "mobilenetv2-signs",
        "mobilenetv2",
        {"width": 0.35, "num_classes": 8, "in_channels": 3},
        "signs",
        {"samples": 2400, "size": 32, "num_classes": 8, "seed": 0},
        (None, 3, 32, 32),
        epochs=10,
        calibration=128,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8", "litert/fp32", "litert/int8"),
    ),
    _scenario(
        "resnet-reid",
        "resnet",
        {"width": 0.5, "num_classes": 30, "in_channels": 3},
        "reid",
        {"samples": 1800, "size": 32, "identities": 30, "cameras": 3, "seed": 0},
        (None, 3, 32, 32),
        epochs=30,
        calibration=128,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8", "litert/fp32", "litert/int8"),
    ),
)


def _dense(
    name: str, family: str, task: str, config: dict[str, Any], source: str, params: dict[str, Any], side: int, **kw: Any
) -> Recipe:
    """A compact model for a dense vision task, trained on its seeded scenes (no resolutions: its truth
    is in the pixels it was rendered at)."""
    return Recipe(
        name=name,
        family=family,
        task=task,
        config=config,
        input_shape=(None, 3, side, side),
        dataset={"source": source, "split_seed": 0, "eval_fraction": 0.2, "params": params},
        calibration=128,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8", "litert/fp32", "litert/int8"),
        **kw,
    )


#: the vision tasks of AIIA, MLPerf Mobile, Jetson, Edge AI Bench and Ianvs: detection (shapes, PCB solder
#: defects, traffic signs), segmentation, lanes, super-resolution, pose
VISION = (
    _dense(
        "centernet-objects",
        "centernet",
        "detection",
        {"num_classes": 3, "width": 12},
        "objects",
        {"samples": 1600, "size": 64, "seed": 0},
        64,
        epochs=12,
        lr=4e-3,
    ),
    _dense(
        "centernet-pcb",
        "centernet",
        "detection",
        {"num_classes": 3, "width": 8},
        "pcb",
        {"samples": 1200, "size": 64, "seed": 0},
        64,
        epochs=12,
        lr=4e-3,
    ),
    # Ianvs's joint inference needs a cloud model that really is better: wider, trained longer
    _dense(
        "centernet-pcb-cloud",
        "centernet",
        "detection",
        {"num_classes": 3, "width": 16},
        "pcb",
        {"samples": 1200, "size": 64, "seed": 0},
        64,
        epochs=16,
        lr=4e-3,
    ),
    _dense(
        "centernet-street",
        "centernet",
        "detection",
        {"num_classes": 8, "width": 12},
        "street",
        {"samples": 1600, "size": 64, "seed": 0},
        64,
        epochs=12,
        lr=4e-3,
    ),
    _dense(
        "unet-objects",
        "unet",
        "segmentation",
        {"num_classes": 4, "width": 8},
        "objects",
        {"samples": 800, "size": 64, "seed": 0},
        64,
        epochs=24,
        batch_size=16,
        lr=4e-3,
    ),
    _dense(
        "lanenet-roads",
        "lanenet",
        "lanes",
        {"lanes": 4, "rows": 14, "cells": 32, "width": 8, "side": 64, "hidden": 128},
        "roads",
        {"samples": 1600, "size": 64, "seed": 0},
        64,
        epochs=14,
        tflite_batch=1,
        lr=2e-3,
    ),
    _dense(
        "espcn-superres",
        "espcn",
        "super_resolution",
        {"scale": 2, "width": 32},
        "superres",
        {"samples": 600, "size": 64, "scale": 2, "seed": 0},
        32,
        epochs=40,
        tflite_batch=1,
        lr=3e-3,
        max_accuracy_drop=1.0,
    ),
    _dense(
        "posenet-figures",
        "posenet",
        "pose",
        {"keypoints": 5, "width": 12},
        "figures",
        {"samples": 1600, "size": 64, "seed": 0},
        64,
        epochs=16,
        lr=4e-3,
    ),
)


def _icu(outcome: str, classes: int, fraction: float, task: str = "classification", epochs: int = 30) -> Recipe:
    return _scenario(
        f"lstm-{outcome}",
        "lstm",
        {"num_classes": classes, "in_channels": 5, "hidden": 32, "layers": 1},
        "icu",
        {"outcome": outcome, "samples": 2000, "steps": 48, "positive_fraction": fraction, "seed": 0},
        (None, 48, 5),
        epochs=epochs,
        lr=5e-3,
        layout="NTC",
        tflite_batch=1,
        task=task,
        max_accuracy_drop=0.1,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8_dynamic", "litert/fp32", "litert/int8_dynamic"),
    )


#: the rest of Edge AI Bench and AIIA: MIMIC-III's three ICU tasks, DLRM click-through, face
#: verification, NCF recommendation, action recognition on clips, keyword spotting, speech recognition, translation and QA.
#: LiteRT gets a fixed batch of 1: litert-torch cannot lower these graphs with a dynamic batch
TASK_MODELS = (
    _icu("mortality", 2, 0.2),
    _icu("decompensation", 2, 0.3),
    _icu("phenotyping", 6, 0.25, task="multilabel"),
    _scenario(
        "dlrm-clicks",
        "dlrm",
        {"rows": 300, "dim": 8, "bottom": (64, 32), "top": (64, 32)},
        "clicks",
        {"samples": 100000, "rows": 300, "ctr": 0.25, "seed": 0},
        (None, 39),
        epochs=3,
        weight_decay=0.05,
        lr=5e-3,
        layout="NC",
        tflite_batch=1,
        calibration=128,
        max_accuracy_drop=0.05,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8_dynamic", "litert/fp32", "litert/int8_dynamic"),
    ),
    _scenario(
        "encoder-reviews",
        "encoder",
        {"vocab": 141, "length": 10, "outputs": 3, "width": 64, "heads": 4, "layers": 2, "pool": True},
        "reviews",
        {"samples": 4000, "seed": 0},
        (None, 10),
        epochs=30,
        lr=2e-3,
        layout="NT",
        tflite_batch=1,
        max_accuracy_drop=0.05,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8_dynamic", "litert/fp32", "litert/int8_dynamic"),
    ),
    _scenario(
        "siamese-faces",
        "siamese",
        {"width": 12, "embedding": 64},
        "face_pairs",
        {"samples": 4000, "size": 32, "identities": 600, "seed": 0},
        (None, 6, 32, 32),
        epochs=12,
        task="verification",
        tflite_batch=1,
        calibration=128,
        max_accuracy_drop=0.05,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8", "litert/fp32", "litert/int8"),
    ),
    _scenario(
        "ncf-interactions",
        "ncf",
        {"users": 300, "items": 400, "factors": 16, "layers": (64, 32, 16)},
        "interactions",
        {"samples": 3000, "users": 300, "items": 400, "per_user": 10, "negatives": 99, "seed": 0},
        (None, 100, 2),
        epochs=40,
        lr=1e-2,
        layout="NTC",
        task="recommendation",
        tflite_batch=1,
        calibration=128,
        max_accuracy_drop=0.05,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8_dynamic", "litert/fp32", "litert/int8_dynamic"),
    ),
    _scenario(
        "r21d-clips",
        "r21d",
        {"num_classes": 8, "width": 12},
        "clips",
        {"samples": 2000, "frames": 8, "size": 32, "seed": 0},
        (None, 3, 8, 32, 32),
        epochs=24,
        layout="NCTHW",
        task="action",
        tflite_batch=1,
        calibration=128,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8", "litert/fp32", "litert/int8"),
    ),
    _scenario(
        "dscnn-keywords",
        "dscnn",
        {"num_classes": 10, "width": 32, "blocks": 4},
        "keywords",
        {"samples": 2400, "speakers": 60, "seed": 0},
        (None, 98, 40),
        epochs=12,
        layout="NTC",
        task="keyword_spotting",
        tflite_batch=1,
        calibration=128,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8", "litert/fp32", "litert/int8"),
    ),
    _scenario(
        "ctc-speech",
        "ctc_conv",
        {"symbols": 29, "bands": 40, "width": 96, "blocks": 5},
        "speech",
        {"samples": 2000, "speakers": 60, "seconds": 3.0, "seed": 0},
        (None, 298, 40),
        epochs=50,
        lr=5e-3,
        layout="NTC",
        task="speech_recognition",
        tflite_batch=1,
        calibration=128,
        max_accuracy_drop=0.05,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8_dynamic", "litert/fp32", "litert/int8_dynamic"),
    ),
    _scenario(
        "encoder-translation",
        "encoder",
        {"vocab": 141, "length": 10, "outputs": 141, "width": 64, "heads": 4, "layers": 2},
        "translation",
        {"samples": 4000, "seed": 0},
        (None, 10),
        epochs=12,
        layout="NT",
        task="translation",
        tflite_batch=1,
        max_accuracy_drop=5.0,  # BLEU points
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8_dynamic", "litert/fp32", "litert/int8_dynamic"),
    ),
    _scenario(
        "encoder-qa",
        "encoder",
        {"vocab": 141, "length": 48, "outputs": 2, "width": 64, "heads": 4, "layers": 2},
        "qa",
        {"samples": 4000, "seed": 0},
        (None, 48),
        epochs=40,
        layout="NT",
        task="question_answering",
        tflite_batch=1,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8_dynamic", "litert/fp32", "litert/int8_dynamic"),
    ),
)


RECIPES: dict[str, Recipe] = {
    "tinycnn-digits": Recipe(
        name="tinycnn-digits",
        family="tinycnn",
        config={"width": 16, "num_classes": 10, "in_channels": 1},
        dataset={"source": "digits", "split_seed": 0, "eval_fraction": 0.25},
        input_shape=(None, 1, 8, 8),
        epochs=30,
    ),
    # a deliberately small edge model for the edge-cloud suite (tinycnn-digits is its cloud model)
    "tinycnn4-digits": Recipe(
        name="tinycnn4-digits",
        family="tinycnn",
        config={"width": 4, "num_classes": 10, "in_channels": 1},
        dataset={"source": "digits", "split_seed": 0, "eval_fraction": 0.25},
        input_shape=(None, 1, 8, 8),
        epochs=30,
        lr=1e-2,
        variants=("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8", "litert/fp32"),
    ),
    # AIoTBench's heavy families (ResNet50, InceptionV3, DenseNet121) and light ones (SqueezeNet,
    # MobileNetV2, MnasNet), in light configurations that train in about a minute on 2 cores
    **{
        r.name: r
        for r in (
            _aiot("resnet", 0.35),
            _aiot("inception", 0.5),
            _aiot("densenet", 0.5),
            _aiot("squeezenet", 0.5),
            _aiot("mobilenetv2", 0.35),
            _aiot("mnasnet", 0.35),
        )
    },
    **{r.name: r for r in EDGE_AI},
    **{r.name: r for r in VISION},
    **{r.name: r for r in TASK_MODELS},
}


def dataset_spec(recipe: Recipe, size: int | None = None) -> DatasetSpec:
    d = recipe.dataset
    params = dict(d.get("params", {}))
    if size is not None:
        params["size"] = size
    return DatasetSpec(
        name=d["source"],
        source=d["source"],
        eval_fraction=d.get("eval_fraction", 0.25),
        split_seed=d.get("split_seed", 0),
        params=params,
    )


def datasets_for(recipe: Recipe) -> list[Dataset]:
    """The recipe's dataset at each training resolution (the base first)."""
    if not recipe.resolutions:
        return [materialize(dataset_spec(recipe))]
    return [materialize(dataset_spec(recipe, r)) for r in recipe.resolutions]
