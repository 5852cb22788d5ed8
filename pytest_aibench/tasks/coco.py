"""COCO's own evaluation (pycocotools' COCOeval) on in-memory truth and predictions.

The truth and the predictions are written as COCO dictionaries and evaluated by the reference code,
so a detection mAP or keypoint AP here is the number the field's leaderboards compute."""

from __future__ import annotations

import contextlib
import importlib
import io
from typing import Any

import numpy as np

from pytest_aibench.errors import NotAvailable

INSTALL_HINT = "pip install 'pytest-aibench[vision]' (pycocotools: COCO's reference evaluation)"


def _coco() -> tuple[Any, Any]:
    try:
        coco = importlib.import_module("pycocotools.coco")
        cocoeval = importlib.import_module("pycocotools.cocoeval")
    except ImportError as exc:
        raise NotAvailable(f"COCO evaluation needs pycocotools ({exc}); {INSTALL_HINT}") from None
    return coco.COCO, cocoeval.COCOeval


def ground_truth(
    ids: np.ndarray,
    truth: Any,
    *,
    keypoints: bool = False,
) -> dict[str, Any]:
    """COCO's annotation dictionary for the images ``ids`` of ``truth`` (a Targets)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    sizes = getattr(truth, "image_sizes", None)
    for i in ids:
        i = int(i)
        h, w = (int(sizes[i][0]), int(sizes[i][1])) if sizes is not None else truth.size
        images.append({"id": i, "width": w, "height": h})
        boxes, classes, areas = truth.boxes[i], truth.classes[i], truth.areas[i]
        for k in range(len(boxes)):
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": i,
                "category_id": int(classes[k]) + 1,
                "bbox": [float(v) for v in boxes[k]],
                "area": float(areas[k]),
                "iscrowd": 0,
            }
            if keypoints:
                kp = truth.keypoints[i][k]
                ann["keypoints"] = [float(v) for v in kp.reshape(-1)]
                ann["num_keypoints"] = int((kp[:, 2] > 0).sum())
            annotations.append(ann)
    names = truth.categories or ("object",)
    categories = [{"id": c + 1, "name": str(n)} for c, n in enumerate(names)]
    if keypoints:
        for c in categories:
            c["keypoints"] = list(truth.keypoint_names)
            c["skeleton"] = []
    return {"images": images, "annotations": annotations, "categories": categories}


def evaluate(
    gt: dict[str, Any], dt: list[dict[str, Any]], iou_type: str, sigmas: np.ndarray | None = None
) -> np.ndarray:
    """COCOeval's 12 (bbox) or 10 (keypoints) summary statistics; -1 where nothing was there to count."""
    coco_cls, eval_cls = _coco()
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and table
        coco_gt = coco_cls()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if not dt:
            return np.zeros(12 if iou_type == "bbox" else 10)
        coco_dt = coco_gt.loadRes(dt)
        ev = eval_cls(coco_gt, coco_dt, iou_type)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.params.imgIds = [im["id"] for im in gt["images"]]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)
