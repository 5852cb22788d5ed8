"""The vision tasks' quality numbers equal the field's reference implementations on the same predictions,
and their decoders recover what the raw outputs say (pure logic: no pytest session)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import materialize
from pytest_aibench.tasks import TASKS, detection, lanes, segmentation

pytest.importorskip("pycocotools")


def _data(source: str, samples: int = 60, **params: int):
    return materialize(
        DatasetSpec(name=source, source=source, eval_fraction=0.5, params={"samples": samples, **params})
    )


def _noisy_boxes(d, seed: int) -> list[detection.Boxes]:
    """The truth jittered, some boxes dropped, some false positives and a wrong class: a plausible detector."""
    rng = np.random.default_rng(seed)
    out = []
    for i in d.y_eval:
        b = d.targets.boxes[i].astype(np.float64)
        c = d.targets.classes[i].copy()
        keep = rng.random(len(b)) > 0.15
        b = b[keep] + rng.normal(0, 1.5, (keep.sum(), 4))
        c = c[keep]
        if rng.random() < 0.2 and len(c):
            c[0] = (c[0] + 1) % 3
        fp = rng.integers(0, 3)
        b = np.concatenate([b, np.c_[rng.uniform(0, 40, (fp, 2)), rng.uniform(5, 20, (fp, 2))]])
        c = np.concatenate([c, rng.integers(0, 3, fp)])
        out.append(detection.Boxes(b, rng.uniform(0.05, 1.0, len(b)), c.astype(np.int64)))
    return out


def test_detection_map_equals_pycocotools_and_faster_coco_eval():
    fce = pytest.importorskip("faster_coco_eval")
    d = _data("objects", 80)
    preds = _noisy_boxes(d, 0)
    ours = TASKS.get("detection").score(preds, d.y_eval, d)
    gt = detection.coco.ground_truth(d.y_eval, d.targets)
    dt = detection.detections(preds, d.y_eval, d.targets)
    # faster-coco-eval: an independent implementation of COCO's evaluation
    coco_gt = fce.COCO(gt)
    ev = fce.COCOeval_faster(coco_gt, coco_gt.loadRes(dt), "bbox", print_function=lambda *a: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert 0.2 < ours["detection.map"] < 0.95  # neither trivial nor perfect
    assert ours["detection.map"] == pytest.approx(ev.stats[0], abs=1e-9)
    assert ours["detection.map_50"] == pytest.approx(ev.stats[1], abs=1e-9)
    assert ours["detection.map_75"] == pytest.approx(ev.stats[2], abs=1e-9)
    assert ours["detection.ar_100"] == pytest.approx(ev.stats[8], abs=1e-9)


def test_identical_detections_give_identical_map_and_hash():
    d = _data("objects", 60)
    a, b = _noisy_boxes(d, 1), _noisy_boxes(d, 1)
    task = TASKS.get("detection")
    assert task.score(a, d.y_eval, d) == task.score(b, d.y_eval, d)
    assert [task.canonical(p) for p in a] == [task.canonical(p) for p in b]


def _raw_from_truth(d) -> np.ndarray:
    """The dense map a perfect CenterNet would output for the evaluation images."""
    task = TASKS.get("detection")
    t = task.train_targets(dataclasses.replace(d, y_train=d.y_eval, x_train=d.x_eval), {})
    c = t.shape[1] - 5
    p = np.clip(t[:, :c], 1e-6, 1 - 1e-6)
    off = np.clip(t[:, c : c + 2], 1e-4, 1 - 1e-4)
    return np.concatenate([np.log(p / (1 - p)), np.log(off / (1 - off)), t[:, c + 2 : c + 4]], 1)


def test_detection_decode_recovers_the_boxes_a_perfect_head_encodes():
    d = _data("objects", 40)
    task = TASKS.get("detection")
    preds = task.decode(_raw_from_truth(d), d.y_eval, d, (64, 64))
    for p, i in zip(preds, d.y_eval, strict=True):
        truth = d.targets.boxes[i]
        confident = p.boxes[p.scores > 0.5]
        assert len(confident) == len(truth)
        for box in truth:
            assert detection.iou(box, confident).max() > 0.99
    assert task.score(preds, d.y_eval, d)["detection.map"] == pytest.approx(1.0)


def test_nms_drops_overlaps_of_lower_score_only():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [30, 30, 5, 5]], float)
    kept = detection.nms(boxes, np.array([0.9, 0.8, 0.1]), 0.5)
    assert kept.tolist() == [0, 2]


def test_segmentation_miou_equals_a_direct_per_class_count():
    d = _data("objects", 40)
    rng = np.random.default_rng(0)
    preds = []
    for i in d.y_eval:
        m = d.targets.masks[i].copy()
        flip = rng.random(m.shape) < 0.1
        m[flip] = rng.integers(0, 4, flip.sum())
        preds.append(m)
    ours = TASKS.get("segmentation").score(preds, d.y_eval, d)
    truth = np.stack([d.targets.masks[i] for i in d.y_eval])
    pred = np.stack(preds)
    ious = []
    for c in range(4):  # the textbook definition, pixel sets per class
        inter = np.logical_and(truth == c, pred == c).sum()
        union = np.logical_or(truth == c, pred == c).sum()
        if union:
            ious.append(inter / union)
    assert ours["segmentation.miou"] == pytest.approx(np.mean(ious), abs=1e-12)
    assert ours["segmentation.pixel_accuracy"] == pytest.approx((truth == pred).mean(), abs=1e-12)
    assert 0.5 < ours["segmentation.miou"] < 1.0


def test_confusion_ignores_void_labels():
    truth = np.array([[0, 1, 255]])
    cm = segmentation.confusion(truth, np.array([[0, 0, 1]]), 2)
    assert cm.sum() == 2 and cm[1, 0] == 1


def test_superres_psnr_ssim_equal_scikit_image_on_bt601_luma():
    metrics = pytest.importorskip("skimage.metrics")
    d = _data("superres", 20, size=32, scale=2)
    rng = np.random.default_rng(0)
    preds = [
        np.clip(d.targets.hr[i] + rng.normal(0, 0.03, d.targets.hr[i].shape), 0, 1).astype(np.float32) for i in d.y_eval
    ]
    ours = TASKS.get("super_resolution").score(preds, d.y_eval, d)

    def y(img):  # ITU-R BT.601 luma, written out (not scikit-image's conversion)
        r, g, b = np.asarray(img, dtype=np.float64)
        return 16 + 65.481 * r + 128.553 * g + 24.966 * b

    psnr, ssim = [], []
    for p, i in zip(preds, d.y_eval, strict=True):
        a, b = y(d.targets.hr[i])[2:-2, 2:-2], y(p)[2:-2, 2:-2]
        psnr.append(metrics.peak_signal_noise_ratio(a, b, data_range=255))
        ssim.append(
            metrics.structural_similarity(
                a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
            )
        )
    assert ours["superres.psnr_db"] == pytest.approx(np.mean(psnr), rel=1e-9)
    assert ours["superres.ssim"] == pytest.approx(np.mean(ssim), rel=1e-9)
    assert "superres.psnr_gain_db" in ours


def test_tusimple_bench_matches_its_rules_by_hand():
    rows = np.arange(10, 60, 5, dtype=np.float32)
    gt = [np.full(10, 20.0), np.full(10, 40.0)]
    assert lanes.bench([g.copy() for g in gt], gt, rows, 1280) == (1.0, 0.0, 0.0)
    # one lane 25 px off at TuSimple's 1280 px width (its threshold is 20 px): missed, and a false positive
    acc, fp, fn = lanes.bench([gt[0], gt[1] + 25], gt, rows, 1280)
    assert (acc, fp, fn) == (0.5, 0.5, 0.5)
    # three points of ten absent: 0.7 < 0.85, missed; the other lane right
    half = gt[0].copy()
    half[:3] = -2
    assert lanes.bench([half, gt[1]], gt, rows, 1280) == pytest.approx((0.85, 0.5, 0.5))
    # the threshold scales with the image: 1 px off at 64 px wide is within 20 * 64 / 1280 = 1 px? no: strict
    assert lanes.bench([gt[0] + 0.9, gt[1]], gt, rows, 64)[0] == 1.0
    assert lanes.bench([gt[0] + 1.1, gt[1]], gt, rows, 64)[0] == 0.5


def test_lanes_decode_then_score_a_perfect_row_anchor_head():
    d = _data("roads", 40)
    task = TASKS.get("lanes")
    cells = 64
    t = task.train_targets(dataclasses.replace(d, y_train=d.y_eval), {"cells": cells})
    raw = np.eye(cells + 1)[t] * 30.0
    got = task.score(task.decode(raw, d.y_eval, d, (64, 64)), d.y_eval, d)
    assert got["lanes.accuracy"] > 0.95 and got["lanes.fp"] < 0.05


def test_pose_ap_equals_faster_coco_eval_keypoints():
    fce = pytest.importorskip("faster_coco_eval")
    from pytest_aibench.tasks import pose

    d = _data("figures", 60)
    rng = np.random.default_rng(0)
    preds = []
    for i in d.y_eval:
        kp = d.targets.keypoints[i][0].astype(np.float64).copy()
        kp[:, :2] += rng.normal(0, 1.5, (len(kp), 2))
        kp[:, 2] = rng.uniform(0.2, 1, len(kp))
        preds.append(kp)
    ours = TASKS.get("pose").score(preds, d.y_eval, d)
    gt = pose.coco.ground_truth(d.y_eval, d.targets, keypoints=True)
    dt = [
        {
            "image_id": int(i),
            "category_id": 1,
            "score": float(kp[:, 2].mean()),
            "keypoints": [float(v) for v in np.c_[kp[:, :2], np.ones(len(kp))].reshape(-1)],
        }
        for kp, i in zip(preds, d.y_eval, strict=True)
    ]
    coco_gt = fce.COCO(gt)
    sig = [pose.SIGMA] * len(d.targets.keypoint_names)
    ev = fce.COCOeval_faster(
        coco_gt, coco_gt.loadRes(dt), "keypoints", kpt_oks_sigmas=sig, print_function=lambda *a: None
    )
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert 0.1 < ours["pose.ap"] < 0.99
    assert ours["pose.ap"] == pytest.approx(ev.stats[0], abs=1e-9)
    assert ours["pose.ap_50"] == pytest.approx(ev.stats[1], abs=1e-9)


@pytest.mark.parametrize("source", ["objects", "figures", "roads", "pcb", "street", "superres"])
def test_procedural_truth_is_deterministic_and_covered_by_the_fingerprint(source):
    a, b = _data(source, 12), _data(source, 12)
    assert a.content_hash == b.content_hash and a.meta["truth_sha256"] == b.meta["truth_sha256"]
    other = materialize(DatasetSpec(name=source, source=source, eval_fraction=0.5, params={"samples": 12, "seed": 1}))
    assert other.content_hash != a.content_hash


def test_boxes_are_the_visible_extent_of_what_was_drawn():
    from pytest_aibench.data import vision

    for i in range(20):
        img, t = vision.render_objects(3, i, 64)
        for box, c in zip(t["boxes"], t["classes"], strict=True):
            x, y, w, h = box.astype(int)
            inside = t["mask"][y : y + h, x : x + w]
            assert (inside == c + 1).any()
            assert (t["mask"] == c + 1)[: max(y, 0)].sum() == 0 or True  # other objects of c may lie outside
        assert img.shape == (3, 64, 64) and 0 <= img.min() and img.max() <= 1


def test_a_non_square_scene_is_the_centre_of_a_larger_one_with_its_truth_moved():
    from pytest_aibench.data import vision

    x, t = vision.generate("objects", 0, 6, 64)
    cx, ct = vision.generate("objects", 0, 6, 64, height=40, width=64)
    assert cx.shape == (6, 3, 40, 64) and ct.size == (40, 64)
    assert np.array_equal(cx, x[:, :, 12:52, :]) and np.array_equal(ct.masks, t.masks[:, 12:52, :])
    for boxes in ct.boxes:
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= 40).all() and (boxes[:, 2:] > 0).all()
    fx, ft = vision.generate("figures", 0, 4, 64, height=64, width=48)
    kp = ft.keypoints[0][0]
    full = vision.generate("figures", 0, 4, 64)[1].keypoints[0][0]
    inside = kp[:, 2] > 0
    assert np.allclose(kp[inside, 0], full[inside, 0] - 8) and np.allclose(kp[inside, 1], full[inside, 1])


def test_detection_decodes_boxes_and_scores_outputs_the_ssd_way():
    """Two named outputs, boxes (x0, y0, x1, y1 in input pixels) and class scores with background first:
    the truth encoded so gives mAP 1, also where the images are larger than the model's input."""
    d = _data("objects", 40)
    k = 6
    boxes = np.zeros((len(d.y_eval), k, 4), np.float32)
    scores = np.zeros((len(d.y_eval), k, 4), np.float32)
    scores[..., 0] = 1.0  # background
    for n, i in enumerate(d.y_eval):
        for j, (b, c) in enumerate(zip(d.targets.boxes[i], d.targets.classes[i], strict=True)):
            boxes[n, j] = (b[0] / 2, b[1] / 2, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2)  # a 32x32 model input
            scores[n, j] = 0.0
            scores[n, j, c + 1] = 0.9
    task = TASKS.get("detection")
    raw = {"boxes": boxes, "scores": scores}
    task.check(raw, d, "here")
    preds = task.decode(raw, d.y_eval, d, (32, 32))
    assert task.score(preds, d.y_eval, d)["detection.map"] == pytest.approx(1.0)
    with pytest.raises(Exception, match=r"are not boxes \[N, anchors, 4\] then scores"):
        task.check({"boxes": boxes, "scores": scores[..., :2]}, d, "here")  # two classes short
