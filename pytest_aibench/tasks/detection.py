"""``detection``: boxes with classes, judged by COCO's mAP (pycocotools).

Raw outputs come in either of two forms, decoded outside the timed model call as a deployed detector's
post-processing is:

- one CenterNet-style map (N, classes + 4, H/s, W/s): per-class centre logits, the centre's offset in
  its cell (two logits, sigmoid), the box's log width and height in cells; local maxima of the heatmap
  (3x3), the 100 best per image, then class-wise NMS at IoU 0.5;
- two named outputs (``output: [boxes, scores]``, in that order), the form SSD-style exports hand to
  NMS: boxes (N, anchors, 4) as x0, y0, x1, y1 in input pixels and scores (N, anchors, classes), class
  probabilities (a leading background column, classes + 1 of them, is dropped); every class's boxes
  scored at least 0.01 go through class-wise NMS at IoU 0.5, the 100 best per image kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.errors import ArtifactError
from pytest_aibench.tasks import coco, shape_error, truth_hw

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")

TOP_K = 100
MIN_SCORE = 0.01
NMS_IOU = 0.5
#: IoU band of Ianvs's box-level hard-example rule: a box scored in [LOW, HIGH) is one the model doubts
UNSURE = (0.1, 0.5)


@dataclass(frozen=True)
class Boxes:
    boxes: np.ndarray  # (k, 4) x, y, w, h in the truth's pixels
    scores: np.ndarray  # (k,)
    classes: np.ndarray  # (k,) 0-based


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def _peaks(heat: np.ndarray) -> np.ndarray:
    """Where a (C, h, w) map equals its 3x3 neighbourhood's maximum."""
    padded = np.pad(heat, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    h, w = heat.shape[1:]
    best = np.max([padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)
    return heat >= best


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[0] + box[2], others[:, 0] + others[:, 2])
    y1 = np.minimum(box[1] + box[3], others[:, 1] + others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / np.maximum(box[2] * box[3] + others[:, 2] * others[:, 3] - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float = NMS_IOU) -> np.ndarray:
    """Greedy non-maximum suppression: indices kept, best first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        order = order[1:][iou(boxes[i], boxes[order[1:]]) <= threshold] if len(order) > 1 else order[1:]
    return np.asarray(keep, dtype=np.int64)


class Detection:
    name = "detection"
    headline = "detection.map"
    needs = "boxes"
    provides = declare(
        ("detection.map", "COCO mAP@[.5:.95] (pycocotools COCOeval, bbox)", True, "1"),
        ("detection.map_50", "COCO mAP at IoU 0.5", True, "1"),
        ("detection.map_75", "COCO mAP at IoU 0.75", True, "1"),
        ("detection.map_small", "COCO mAP of small objects (area < 32²)", True, "1"),
        ("detection.ar_100", "COCO average recall, 100 detections per image", True, "1"),
        ("detection.images", "images evaluated", None),
        ("detection.boxes", "boxes predicted (after NMS, score >= 0.01)", None),
    )
    provides |= column(provides, {"detection.map": ("mAP", "{:.3f}", 1.0, 1), "detection.map_50": ("mAP50", "{:.3f}")})

    def check(self, raw: Any, dataset: Any, where: str) -> None:
        classes = len(dataset.targets.categories) if dataset.targets is not None else None
        if isinstance(raw, dict):
            boxes, scores = (list(raw.values()) + [None, None])[:2]
            ok = boxes is not None and scores is not None and boxes.ndim == 3 and boxes.shape[-1] == 4
            ok = ok and scores.ndim == 3 and scores.shape[:2] == boxes.shape[:2]
            if not ok or (classes is not None and scores.shape[-1] not in (classes, classes + 1)):
                shown = {k: list(np.shape(v)) for k, v in raw.items()}
                raise ArtifactError(
                    f"{where}: the model's outputs {shown} are not boxes [N, anchors, 4] then scores "
                    f"[N, anchors, {classes} or {classes} + 1 with background]; list them in that order in 'output:'"
                )
            return
        if np.ndim(raw) != 4 or (classes is not None and np.shape(raw)[1] != classes + 4):
            raise shape_error(
                where,
                self.name,
                raw,
                f"[N, classes + 4, H/stride, W/stride] (centre heatmaps for {classes} classes, offsets, log sizes)",
                "export the detector's dense head, or choose the task that fits its outputs",
            )

    def decode(self, raw: Any, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[Boxes]:
        if isinstance(raw, dict):
            return self._anchored(raw, ids, dataset, input_hw)
        raw = np.asarray(raw, dtype=np.float32)
        classes = raw.shape[1] - 4
        stride_y, stride_x = input_hw[0] / raw.shape[2], input_hw[1] / raw.shape[3]
        out = []
        for n, i in enumerate(ids):
            (th, tw) = truth_hw(dataset.targets, int(i))
            out.append(self._one(raw[n], classes, stride_y, stride_x, th / input_hw[0], tw / input_hw[1]))
        return out

    @staticmethod
    def _anchored(raw: dict[str, np.ndarray], ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[Boxes]:
        boxes_all, scores_all = list(raw.values())[:2]
        classes = len(dataset.targets.categories)
        scores_all = np.asarray(scores_all, np.float64)
        if scores_all.shape[-1] == classes + 1:
            scores_all = scores_all[..., 1:]  # background first, as SSD exports it
        out = []
        for n, i in enumerate(ids):
            th, tw = truth_hw(dataset.targets, int(i))
            xyxy = np.asarray(boxes_all[n], np.float64)
            xywh = np.stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], 1)
            xywh *= [tw / input_hw[1], th / input_hw[0], tw / input_hw[1], th / input_hw[0]]
            a, c = np.nonzero(scores_all[n] >= MIN_SCORE)
            s = scores_all[n][a, c]
            keep = [idx[nms(xywh[a[idx]], s[idx])] for k in np.unique(c) for idx in [np.nonzero(c == k)[0]]]
            kept = np.concatenate(keep) if keep else np.zeros(0, np.int64)
            kept = kept[np.argsort(-s[kept], kind="stable")][:TOP_K]
            out.append(Boxes(xywh[a[kept]], s[kept], c[kept].astype(np.int64)))
        return out

    @staticmethod
    def _one(r: np.ndarray, classes: int, sy: float, sx: float, ky: float, kx: float) -> Boxes:
        heat = _sigmoid(r[:classes])
        mask = _peaks(heat) & (heat >= MIN_SCORE)
        c, i, j = np.nonzero(mask)
        scores = heat[c, i, j]
        if len(scores) > TOP_K:
            top = np.argsort(-scores, kind="stable")[:TOP_K]
            c, i, j, scores = c[top], i[top], j[top], scores[top]
        off = _sigmoid(r[classes : classes + 2, i, j])
        size = np.exp(np.clip(r[classes + 2 : classes + 4, i, j], -10, 10))
        cx, cy = (j + off[0]) * sx, (i + off[1]) * sy
        w, h = size[0] * sx, size[1] * sy
        boxes = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1).astype(np.float64)
        keep: list[np.ndarray] = []
        for k in np.unique(c):
            idx = np.nonzero(c == k)[0]
            keep.append(idx[nms(boxes[idx], scores[idx])])
        kept = np.concatenate(keep) if keep else np.zeros(0, np.int64)
        kept = kept[np.argsort(-scores[kept], kind="stable")]
        return Boxes(boxes[kept] * [kx, ky, kx, ky], scores[kept].astype(np.float64), c[kept].astype(np.int64))

    def score(self, predictions: list[Boxes], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        truth = dataset.targets
        gt = coco.ground_truth(ids, truth)
        dt = detections(predictions, ids, truth)
        stats = coco.evaluate(gt, dt, "bbox")
        return {
            "detection.map": float(max(stats[0], 0.0)),
            "detection.map_50": float(max(stats[1], 0.0)),
            "detection.map_75": float(max(stats[2], 0.0)),
            "detection.map_small": float(max(stats[3], 0.0)),
            "detection.ar_100": float(max(stats[8], 0.0)),
            "detection.images": len(ids),
            "detection.boxes": len(dt),
        }

    def empty(self, prediction: Boxes) -> Boxes:
        return Boxes(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))

    def canonical(self, prediction: Boxes) -> bytes:
        """Boxes to 1/16 px and scores to 1e-4: identical detections hash equal across kernels' last bits."""
        return (
            np.round(prediction.boxes * 16).astype(np.int64).tobytes()
            + np.round(prediction.scores * 1e4).astype(np.int64).tobytes()
            + prediction.classes.astype(np.int64).tobytes()
        )

    def confidence(self, prediction: Boxes) -> float:
        """1 - the share of candidate boxes scored in the doubtful band (Ianvs's IBT rule, box level)."""
        s = prediction.scores[prediction.scores >= UNSURE[0]]
        return 1.0 if len(s) == 0 else float(1.0 - ((s < UNSURE[1]).mean()))

    # -- training (the zoo build) ---------------------------------------------------------------------
    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        """CenterNet's targets per training image: Gaussian centre heatmaps, offsets, log sizes, a mask."""
        truth = dataset.targets
        classes = int(config.get("num_classes", len(truth.categories)))
        side = int(np.shape(dataset.x_train)[-1])
        cells = side // 4
        out = np.zeros((len(dataset.y_train), classes + 5, cells, cells), np.float32)
        gy, gx = np.mgrid[0:cells, 0:cells]
        for n, i in enumerate(dataset.y_train):
            for (x, y, w, h), c in zip(truth.boxes[i], truth.classes[i], strict=True):
                cx, cy = (x + w / 2) / 4, (y + h / 2) / 4
                ci, cj = min(int(cy), cells - 1), min(int(cx), cells - 1)
                sigma = max(0.5, 0.12 * np.sqrt(w * h) / 4)
                g = np.exp(-((gx - cj) ** 2 + (gy - ci) ** 2) / (2 * sigma**2))
                out[n, c] = np.maximum(out[n, c], g)
                out[n, classes : classes + 5, ci, cj] = (cx - cj, cy - ci, np.log(w / 4), np.log(h / 4), 1.0)
        return out

    def loss(self, out: Any, target: Any) -> Any:
        classes = out.shape[1] - 4
        heat = torch.sigmoid(out[:, :classes]).clamp(1e-4, 1 - 1e-4)
        t = target[:, :classes]
        pos = t.eq(1).float()
        focal = -(pos * torch.log(heat) * (1 - heat) ** 2 + (1 - pos) * torch.log(1 - heat) * heat**2 * (1 - t) ** 4)
        mask = target[:, classes + 4 : classes + 5]
        n = mask.sum().clamp(min=1)
        off = (torch.abs(torch.sigmoid(out[:, classes : classes + 2]) - target[:, classes : classes + 2]) * mask).sum()
        size = (torch.abs(out[:, classes + 2 : classes + 4] - target[:, classes + 2 : classes + 4]) * mask).sum()
        return focal.sum() / n + off / n + size / n


def detections(predictions: list[Boxes], ids: np.ndarray, truth: Any) -> list[dict[str, Any]]:
    """COCO's result list: one dict per box, in the image's own pixels."""
    out = []
    for p, i in zip(predictions, ids, strict=True):
        for b, s, c in zip(p.boxes, p.scores, p.classes, strict=True):
            out.append(
                {"image_id": int(i), "category_id": int(c) + 1, "bbox": [float(v) for v in b], "score": float(s)}
            )
    return out
