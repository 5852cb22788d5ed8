"""Task items end to end: a zoo detector run as a pytest item, judged by COCO mAP, gated, ranked in its
own leaderboard, paired against itself, and refused with one clear message when the pieces do not fit."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("pycocotools")

SUITE = """\
suite: vision
version: "1.0"
datasets:
  objects: {{source: objects, split_seed: 0, eval_fraction: 0.2, params: {{samples: 1600, size: 64, seed: 0}}}}
  digits: {{source: digits, split_seed: 0}}
models:
  det:
    zoo: centernet-objects
    dataset: objects
{extra}frameworks: [onnxruntime]
quantizations: [fp32]
paradigms: [single]
gates:
  accuracy: ">= 0.5"   # suite-wide top-1: a detector is not judged by it
settings: {{latency_samples: 5, warmup: 1}}
"""


def _suite(p: pytest.Pytester, extra: str = '    gates: {detection.map_50: ">= 0.5"}\n', models: str = "") -> None:
    text = SUITE.format(extra=extra)
    if models:
        text = text.replace("frameworks:", models + "frameworks:", 1)
    (Path(p.path) / "suite.yaml").write_text(text)


def _run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json", *args)


def test_a_detector_item_is_judged_by_coco_map_gated_and_ranked_by_it(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    r = _run(pytester, "--aibench-md", "board.md")
    r.assert_outcomes(passed=1)
    r.stdout.fnmatch_lines(["*post ms*mAP*mAP50*", "*det[onnxruntime-fp32-single]*"])
    (item,) = json.loads((Path(pytester.path) / "run.json").read_text())["items"]
    det = item["metrics"]["detection"]
    assert 0.5 < det["map_50"] <= 1 and 0.3 < det["map"] < det["map_50"] and det["images"] == 320
    assert item["metrics"]["postprocess"]["ms_per_image"] > 0
    # evaluated exactly the card's split: the fp32 reference is the card's, and this fp32 variant loses nothing
    assert item["metrics"]["quality"]["fp32"] == pytest.approx(det["map"], abs=1e-6)
    assert abs(item["metrics"]["quality"]["loss"]) < 1e-6
    assert "accuracy" not in item["metrics"] and "vips" not in item["metrics"]
    assert item["info"]["task"]["name"] == "detection" and len(item["info"]["prediction_hash"]) == 64
    gates = {g["metric"]: g["passed"] for g in item["gates"]}
    assert gates == {"detection.map_50": True}  # the suite's top-1 gate did not apply
    assert "| mAP |" in (Path(pytester.path) / "board.md").read_text()


def test_a_failed_task_gate_names_metric_value_and_limit(pytester: pytest.Pytester) -> None:
    _suite(pytester, '    gates: {detection.map: ">= 0.99"}\n    settings: {eval_samples: 40}\n')
    r = _run(pytester)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*gate failed: detection.map = 0.*, required >= 0.99*"])


def test_outputs_that_do_not_fit_the_task_are_one_clear_error(pytester: pytest.Pytester) -> None:
    _suite(pytester, "    task: segmentation\n    settings: {eval_samples: 8}\n")
    r = _run(pytester)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(
        ["*the model outputs shape [[]*, 7, 16, 16], but task 'segmentation' decodes [[]N, 4, H, W] class logits*"]
    )


def test_a_classifier_on_boxes_or_a_detector_on_labels_is_refused_before_measuring(pytester: pytest.Pytester) -> None:
    models = "  digits_det:\n    zoo: centernet-objects\n    dataset: digits\n    task: detection\n"
    models += "  cls:\n    zoo: tinycnn-digits\n    dataset: objects\n    task: classification\n"
    _suite(pytester, "", models=models)
    r = _run(pytester, "-k", "digits_det or cls")
    r.assert_outcomes(errors=2)  # at setup: nothing was measured
    r.stdout.fnmatch_lines(
        [
            "*model 'digits_det' is judged as 'detection', but dataset 'digits' (source digits) yields class labels only*",
            "*dataset 'objects' (source objects) yields truth for 'detection', not class labels; set 'task: detection'*",
        ],
        consecutive=False,
    )


def test_an_unknown_task_is_refused_at_collection_with_a_suggestion(pytester: pytest.Pytester) -> None:
    _suite(pytester, "    task: detecton\n")
    r = _run(pytester)
    assert r.ret != 0
    said = r.stdout.str() + r.stderr.str()
    assert "suite.yaml:10: models.det.task: unknown task 'detecton'" in said and "did you mean 'detection'?" in said


@pytest.mark.slow
def test_paired_against_itself_identical_detections_give_identical_map(pytester: pytest.Pytester) -> None:
    _suite(pytester, "    settings: {eval_samples: 64}\n")
    _run(pytester, "--aibench-save", "base").assert_outcomes(passed=1)
    r = _run(pytester, "--aibench-against", "base", "--aibench-fail-on", "detection.map:-0")
    r.assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "run.json").read_text())["items"]
    info = item["info"]["against"]
    (verdict,) = [v for v in info["verdicts"] if v["metric"] == "detection.map"]
    assert verdict["outcome"] == "SAME"
    assert info["reference_accuracy"] == item["metrics"]["detection"]["map"]  # exactly equal, not close


def test_joint_inference_sends_doubtful_boards_to_the_cloud_detector(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    (Path(pytester.path) / "suite.yaml").write_text(
        textwrap.dedent("""\
        suite: pcb
        version: "1.0"
        datasets:
          pcb: {source: pcb, split_seed: 0, eval_fraction: 0.2, params: {samples: 1200, size: 64, seed: 0}}
        models:
          edge: {zoo: centernet-pcb, dataset: pcb}
          cloud: {zoo: centernet-pcb-cloud, dataset: pcb, paradigms: [cloud_only]}
        frameworks: [onnxruntime]
        quantizations: [fp32]
        paradigms: [joint_inference]
        params:
          joint_inference: {cloud_model: cloud, threshold: 0.9}
        settings: {eval_samples: 120, latency_samples: 5, warmup: 1}
        """)
    )
    r = _run(pytester, "-k", "edge")
    r.assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "run.json").read_text())["items"]
    m = item["metrics"]
    assert 0 < m["hard_ratio"] < 1 and 0 < m["offload_ratio"] <= m["hard_ratio"]
    assert m["quality_cloud_only"] > m["quality_edge_only"]  # the cloud model really is better
    joint = m["detection"]["map"]
    assert m["quality_edge_only"] <= joint + 1e-9  # collaboration does not lose to the edge alone
    assert m["bytes"]["up"] > 0


def test_a_coco_folder_streams_through_the_detector_and_is_scored_in_each_images_own_pixels(
    pytester: pytest.Pytester,
) -> None:
    """Scenes the detector knows, saved stretched to 128x96 with COCO boxes in those pixels: the images are
    decoded a batch at a time, stretched back to the model's 64x64, and the boxes mapped back to 128x96;
    a wrong mapping would score near zero."""
    from PIL import Image

    from pytest_aibench.core.model import DatasetSpec
    from pytest_aibench.data import materialize

    d = materialize(
        DatasetSpec(name="o", source="objects", eval_fraction=0.2, split_seed=0, params={"samples": 1600, "size": 64})
    )
    root = Path(pytester.path) / "parts"
    (root / "img").mkdir(parents=True)
    images, anns = [], []
    for k, i in enumerate(d.y_eval[:48]):
        x = (d.x_eval[k].transpose(1, 2, 0) * 255).round().astype("uint8")
        Image.fromarray(x).resize((128, 96), Image.Resampling.BILINEAR).save(root / "img" / f"{k}.png")
        images.append({"id": k, "file_name": f"{k}.png", "width": 128, "height": 96})
        for box, c in zip(d.targets.boxes[i], d.targets.classes[i], strict=True):
            bx = [float(box[0]) * 2, float(box[1]) * 1.5, float(box[2]) * 2, float(box[3]) * 1.5]
            anns.append({"id": len(anns) + 1, "image_id": k, "category_id": int(c) + 1, "bbox": bx, "iscrowd": 0})
    cats = [{"id": c + 1, "name": n} for c, n in enumerate(d.targets.categories)]
    (root / "annotations.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    (Path(pytester.path) / "suite.yaml").write_text(
        textwrap.dedent("""\
        suite: files
        version: "1.0"
        datasets:
          parts: {source: coco, path: parts, eval_fraction: 1.0, params: {images: img}}
        models:
          det: {zoo: centernet-objects, dataset: parts, gates: {detection.map_50: ">= 0.5"}}
        frameworks: [onnxruntime]
        settings: {latency_samples: 5, warmup: 1, batch_size: 16}
        """)
    )
    _run(pytester).assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "run.json").read_text())["items"]
    assert item["metrics"]["detection"]["images"] == 48
    assert item["metrics"]["detection"]["map_50"] > 0.6  # the 64 px model's own figure, boxes mapped back
    assert item["info"]["streamed"] and item["metrics"]["preprocess"]["ms_per_image"] > 0


@pytest.mark.slow
def test_a_bundle_of_a_detector_run_reruns_with_the_same_map(pytester: pytest.Pytester, capsys) -> None:
    from pytest_aibench.cli import main as aibench

    _suite(pytester, "    settings: {eval_samples: 32}\n")
    _run(pytester).assert_outcomes(passed=1)
    root = Path(pytester.path)
    assert aibench(["bundle", str(root / "run.json"), "-o", str(root / "b.tar.gz")]) == 0
    assert aibench(["rerun", str(root / "b.tar.gz"), "--tolerance", "10"]) == 0  # latency: any; mAP: exact
    out = capsys.readouterr().out
    assert "1 items rerun; accuracy (or each task's headline) must match exactly" in out and "DIFFERS" not in out


def test_a_detector_file_with_boxes_and_scores_outputs_runs_by_naming_them(pytester: pytest.Pytester) -> None:
    """``output: [boxes, scores]``: the runner hands both named outputs to the task, which decodes them."""
    torch = pytest.importorskip("torch")
    import hashlib

    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            level = x.mean((1, 2, 3))[:, None, None]
            anchors = torch.tensor([[8.0, 8.0, 40.0, 40.0], [24.0, 24.0, 60.0, 60.0]])
            boxes = anchors[None].expand(x.shape[0], 2, 4) + 0 * level
            scores = torch.sigmoid(level.expand(x.shape[0], 2, 4) - 0.5)
            return boxes, scores

    path = Path(pytester.path) / "two.onnx"
    torch.onnx.export(
        TwoHeads(),
        (torch.zeros(2, 3, 64, 64),),
        str(path),
        input_names=["input"],
        output_names=["boxes", "scores"],
        dynamic_axes={"input": {0: "n"}, "boxes": {0: "n"}, "scores": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    _suite(
        pytester,
        "",
        models=f"  two:\n    file: two.onnx\n    sha256: {sha}\n    dataset: objects\n    task: detection\n"
        "    output: [boxes, scores]\n    settings: {eval_samples: 16}\n",
    )
    r = _run(pytester, "-k", "two")
    r.assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "run.json").read_text())["items"]
    det = item["metrics"]["detection"]
    assert det["images"] == 16 and det["boxes"] == 16 * 2 * 3  # two anchors, every class above 0.01
    assert 0 <= det["map"] < 0.2  # fixed anchors: a poor detector, judged all the same
