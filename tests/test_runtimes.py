"""Every runner × quantization on the shipped tinycnn: verified artifacts load, the three runtimes'
fp32 outputs agree, and each quantized variant's accuracy stays within a stated tolerance of fp32."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_aibench.artifact import NotAvailable, resolve
from pytest_aibench.core.model import DatasetSpec, ModelSpec, Settings
from pytest_aibench.data import materialize
from pytest_aibench.files import verify
from pytest_aibench.registry import RUNNERS
from pytest_aibench.runtimes import missing
from pytest_aibench.sim.node import Node

MODEL = ModelSpec(name="tiny", dataset="digits", zoo="tinycnn-digits")
FRAMEWORKS = ("torch", "onnxruntime", "litert")
QUANTIZATIONS = ("fp32", "int8", "int8_dynamic", "fp16", "bf16")
#: how far a quantized variant's top-1 accuracy may fall below fp32's on the 449 held-out digits
TOLERANCE = 0.01
#: max abs difference of fp32 logits between any two runtimes
FP32_AGREEMENT = 1e-4


@pytest.fixture(scope="module")
def digits():
    return materialize(DatasetSpec(name="digits", source="digits"))


def scores(framework: str, quantization: str, x: np.ndarray) -> np.ndarray:
    runner = RUNNERS.get(framework)
    if missing(runner):
        pytest.skip(missing(runner))
    try:
        artifact = resolve(MODEL, framework, quantization, runner)
    except NotAvailable as exc:
        pytest.skip(str(exc))
    verify(artifact.path, artifact.sha256)
    session = runner.prepare(artifact, Node(threads=1), Settings())
    try:
        return session.infer(session.adapt(x))
    finally:
        session.close()


@pytest.mark.parametrize("a, b", [("torch", "onnxruntime"), ("torch", "litert"), ("onnxruntime", "litert")])
def test_fp32_outputs_of_the_runtimes_agree(digits, a, b):
    x = digits.x_eval[:64]
    diff = np.abs(scores(a, "fp32", x) - scores(b, "fp32", x)).max()
    assert diff < FP32_AGREEMENT, f"{a} vs {b}: max abs difference of fp32 logits {diff}"


@pytest.mark.parametrize(
    "framework, quantization", [(f, q) for f in FRAMEWORKS for q in QUANTIZATIONS[1:] if q != "bf16" or f == "torch"]
)
def test_quantized_variants_stay_within_tolerance_of_fp32(digits, framework, quantization):
    ref = (scores(framework, "fp32", digits.x_eval).argmax(-1) == digits.y_eval).mean()
    acc = (scores(framework, quantization, digits.x_eval).argmax(-1) == digits.y_eval).mean()
    assert acc >= ref - TOLERANCE, f"{framework} {quantization}: {acc:.4f} vs fp32 {ref:.4f}"


def test_every_runner_runs_every_quantization_it_offers(digits):
    """The CI matrix: each runtime × quantization either runs or says why not (never silently)."""
    ran, unavailable = [], {}
    for framework in FRAMEWORKS:
        runner = RUNNERS.get(framework)
        if missing(runner):
            continue
        for quantization in QUANTIZATIONS:
            try:
                resolve(MODEL, framework, quantization, runner)
            except NotAvailable as exc:
                unavailable[(framework, quantization)] = str(exc)
                continue
            assert scores(framework, quantization, digits.x_eval[:8]).shape == (8, 10)
            ran.append((framework, quantization))
    assert {(f, q) for f in FRAMEWORKS for q in ("fp32", "int8", "int8_dynamic", "fp16")} <= set(ran)
    assert set(unavailable) == {("onnxruntime", "bf16"), ("litert", "bf16")}
    assert all("has no bf16 variant" in why for why in unavailable.values())


def test_latency_times_litert_int8_without_the_outputs_dequantization(digits):
    """The int8 output's dequantization is scoring's, after timing (as the input's quantization is done
    before it): the timed call returns the integers infer turns into the same scores."""
    from pytest_aibench.runtimes import timed

    runner = RUNNERS.get("litert")
    if missing(runner):
        pytest.skip(missing(runner))
    session = runner.prepare(resolve(MODEL, "litert", "int8", runner), Node(threads=1), Settings())
    try:
        x = session.adapt(digits.x_eval[:1])
        scores = session.infer(x)
        raw = timed(session)(x)
        assert raw.dtype == np.int8 and scores.dtype == np.float32
        scale, zero = session._out_q
        assert np.array_equal((raw.astype(np.float32) - zero) * scale, scores)
    finally:
        session.close()
