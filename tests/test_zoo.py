"""The model zoo: real family blocks, counted FLOPs, verified artifacts, reproducible builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from pytest_aibench.builder import build, count_flops  # noqa: E402
from pytest_aibench.builder.export import (  # noqa: E402
    ExportSkipped,
    require_integer_weights,
    unfoldable_batchnorm_to_affine,
)
from pytest_aibench.builder.recipes import RECIPES  # noqa: E402
from pytest_aibench.files import recorded_sums, sha256_file  # noqa: E402
from pytest_aibench.zoo import build_module  # noqa: E402
from pytest_aibench.zoo.cards import find_card  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"
BLOCKS = {
    "resnet": "Bottleneck",
    "inception": "ModuleA",
    "densenet": "DenseLayer",
    "squeezenet": "Fire",
    "mobilenetv2": "Block",
    "mnasnet": "SqueezeExcite",
}


@pytest.mark.parametrize("family", sorted(BLOCKS))
def test_families_use_their_block_and_scale_with_width_depth_and_resolution(family):
    small = build_module(family, {"width": 0.25}).eval()
    wide = build_module(family, {"width": 0.5}).eval()
    deep = build_module(family, {"width": 0.25, "depth": 2.0}).eval()
    assert any(type(m).__name__ == BLOCKS[family] for m in small.modules())
    params = [sum(p.numel() for p in m.parameters()) for m in (small, wide, deep)]
    assert params[0] < params[1] and params[0] < params[2]
    f32, f48 = count_flops(small, (1, 3, 32, 32)), count_flops(small, (1, 3, 48, 48))
    assert 0 < f32 < f48
    with torch.no_grad():
        assert small(torch.zeros(2, 3, 48, 48)).shape == (2, 10)


def test_mobile_families_use_depthwise_and_mnasnet_5x5_kernels():
    mb = build_module("mobilenetv2", {"width": 0.35})
    assert any(isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1 for m in mb.modules())
    mn = build_module("mnasnet", {"width": 0.35})
    assert any(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (5, 5) for m in mn.modules())


def test_batchnorm_rewrite_for_pt2e_keeps_outputs_and_folds_only_after_convs():
    model = build_module("densenet", {"width": 0.25}).eval()
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
        rewritten = unfoldable_batchnorm_to_affine(model)
        x = torch.randn(3, 3, 32, 32)
        assert torch.allclose(model(x), rewritten(x), atol=1e-5)
    kept = [m for m in rewritten.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert kept  # the BatchNorm inside each layer follows a convolution: still folded by pt2e
    assert len(kept) < sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


#: each task's headline floor on its evaluation split (the suites gate the same models, often on a
#: friendlier figure: detection at mAP@.5 >= 0.5, super-resolution at PSNR >= 35 dB)
TASK_FLOORS = {
    **{"detection": 0.35, "segmentation": 0.6, "lanes": 0.8, "super_resolution": 25.0, "pose": 0.2},
    **{"multilabel": 0.8, "verification": 0.9, "recommendation": 0.4, "action": 0.6, "keyword_spotting": 0.9},
    **{"translation": 50.0, "question_answering": 0.7},
}
#: error-rate headlines: each variant's must stay below its ceiling
TASK_CEILINGS = {"speech_recognition": 0.5}
#: classifiers whose signal is partial by construction (the ICU outcomes, clicks: AUROC is their measure)
MODEL_FLOORS = {"lstm-mortality": 0.8, "lstm-decompensation": 0.7, "dlrm-clicks": 0.85}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_shipped_artifacts_match_their_checksums_and_cards(name):
    card = find_card(name)
    sums = recorded_sums(card.folder)
    task = card.data.get("task", "classification")
    floor = MODEL_FLOORS.get(name, TASK_FLOORS.get(task, 0.85))
    for key, art in card.artifacts.items():
        assert sha256_file(card.folder / art["file"]) == art["sha256"] == sums[art["file"]], key
        what = f"{name} {key}: {card.data.get('quality_metric', 'accuracy')}"
        if task in TASK_CEILINGS:
            assert art["accuracy"] < TASK_CEILINGS[task], what
        else:
            assert art["accuracy"] > floor, what
    for extra in ("reference", "predictions"):
        assert (
            sha256_file(card.folder / card.data[extra]["file"])
            == card.data[extra]["sha256"]
            == sums[card.data[extra]["file"]]
        ), extra
    assert card.data["params"] > 0 and card.data["mflops"] > 0 and card.data["tools"]["torch"]


def test_a_litert_int8_file_whose_weighted_ops_kept_float_weights_is_not_shipped(tmp_path):
    """ai-edge-quantizer leaves ops without an integer kernel (CONV_3D) in float: such a file is refused
    and removed; real int8 files pass, and so does an operand another op computes (DLRM's interaction
    is a FULLY_CONNECTED whose second input is an activation, not a weight)."""
    pytest.importorskip("ai_edge_litert")
    import shutil

    for name in ("tinycnn-digits/model.int8.tflite", "dlrm-clicks/model.int8_dynamic.tflite"):
        shutil.copy(MODELS / name, tmp_path / "ok.tflite")
        require_integer_weights(tmp_path / "ok.tflite", "int8")
    floating = tmp_path / "model.int8.tflite"
    shutil.copy(MODELS / "tinycnn-digits/model.tflite", floating)  # every convolution float: as CONV_3D is
    with pytest.raises(ExportSkipped, match=r"left \d+ of \d+ weighted ops in float32 \(.*CONV_2D"):
        require_integer_weights(floating, "full-integer int8")
    assert not floating.exists()


def test_zoo_stays_well_under_50_mb():
    total = sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file())
    assert total < 48 * 2**20, f"{total / 2**20:.1f} MiB"


@pytest.mark.slow
def test_rebuild_reproduces_the_shipped_weights_accuracy_and_predictions(tmp_path):
    """Training pins its kernels (zoo.training), so the weights are the same bytes on any x86 CPU with
    AVX2; each variant rebuilt from them gives the card's accuracy and exactly the card's predictions."""
    pytest.importorskip("onnxruntime")
    from pytest_aibench.isa import describe, isa_flags

    only = ("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8")
    card = build("tinycnn-digits", tmp_path, only, isa_samples=0)
    shipped = json.loads((MODELS / "tinycnn-digits" / "card.json").read_text())
    where = f"rebuilt on {describe(isa_flags())}; shipped card measured on {describe(shipped['measured_on']['isa'])}"
    assert card["artifacts"]["torch/fp32"]["sha256"] == shipped["artifacts"]["torch/fp32"]["sha256"], where
    for key in only:
        assert card["accuracy"][key] == shipped["accuracy"][key], f"{key}: {where}"
        assert card["artifacts"][key]["predictions_sha256"] == shipped["artifacts"][key]["predictions_sha256"], (
            f"{key}: {where}"
        )
    assert "ATEN_CPU_CAPABILITY=avx2" in card["training"]["kernels"]
