"""The real runtimes on the shipped tinycnn: they load verified artifacts and agree with each other."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_aibench.artifact import NotAvailable, resolve
from pytest_aibench.data import materialize
from pytest_aibench.manifest.model import DatasetSpec, ModelSpec, Settings
from pytest_aibench.node import Node
from pytest_aibench.registry import RUNNERS
from pytest_aibench.runtimes import missing

MODEL = ModelSpec(name="tiny", dataset="digits", zoo="tinycnn-digits")


@pytest.fixture(scope="module")
def digits():
    return materialize(DatasetSpec(name="digits", source="digits"))


def scores(framework: str, quantization: str, x: np.ndarray) -> np.ndarray:
    runner = RUNNERS.get(framework)
    if missing(runner):
        pytest.skip(missing(runner))
    session = runner.prepare(resolve(MODEL, framework, quantization, runner), Node(threads=1), Settings())
    try:
        return session.infer(session.adapt(x))
    finally:
        session.close()


def test_torch_and_onnxruntime_fp32_agree(digits):
    x = digits.x_eval[:64]
    diff = np.abs(scores("torch", "fp32", x) - scores("onnxruntime", "fp32", x)).max()
    assert diff < 1e-4, f"max abs difference of fp32 logits {diff}"


@pytest.mark.parametrize("framework, quantization", [("onnxruntime", "int8"), ("onnxruntime", "int8_dynamic"),
                                                     ("onnxruntime", "fp16"), ("torch", "int8_dynamic"),
                                                     ("torch", "bf16")])
def test_quantized_variants_stay_within_one_point_of_fp32(digits, framework, quantization):
    ref = (scores(framework, "fp32", digits.x_eval).argmax(-1) == digits.y_eval).mean()
    acc = (scores(framework, quantization, digits.x_eval).argmax(-1) == digits.y_eval).mean()
    assert acc >= ref - 0.01, f"{framework} {quantization}: {acc:.4f} vs fp32 {ref:.4f}"


def test_unbuilt_variant_is_not_available():
    with pytest.raises(NotAvailable, match="torch has no int8 variant of zoo model 'tinycnn-digits'"):
        resolve(MODEL, "torch", "int8", RUNNERS.get("torch"))
