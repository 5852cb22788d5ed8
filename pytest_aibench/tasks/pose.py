"""``pose``: keypoints of people, judged by COCO's keypoint AP (OKS, pycocotools).

Raw outputs are keypoint heatmaps (N, K, H/s, W/s) (simple baselines, OpenPose's confidence maps):
each keypoint at its heatmap's maximum, moved a quarter cell towards the higher neighbour (the usual
sub-pixel refinement); one person per image, scored by the mean of its keypoints' peaks. Object
keypoint similarity uses one sigma for every keypoint (``SIGMA``, COCO's for shoulders and hips is
0.079 and 0.107): the dataset's keypoints are its own, not COCO's 17."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.tasks import coco, shape_error, truth_hw

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")

SIGMA = 0.089
HEAT_SIGMA = 1.5  # training targets: Gaussian peaks of this many heatmap cells


class Pose:
    name = "pose"
    headline = "pose.ap"
    needs = "keypoints"
    provides = declare(
        ("pose.ap", "COCO keypoint AP, OKS@[.5:.95] (pycocotools COCOeval, keypoints)", True, "1"),
        ("pose.ap_50", "keypoint AP at OKS 0.5", True, "1"),
        ("pose.ap_75", "keypoint AP at OKS 0.75", True, "1"),
        ("pose.ar", "keypoint average recall, OKS@[.5:.95]", True, "1"),
        ("pose.images", "images evaluated", None),
    )
    provides |= column(provides, {"pose.ap": ("OKS AP", "{:.3f}", 1.0, 1)})

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        k = len(dataset.targets.keypoint_names) if dataset.targets is not None else None
        if np.ndim(raw) != 4 or (k and np.shape(raw)[1] != k):
            raise shape_error(
                where,
                self.name,
                raw,
                f"[N, {k} keypoints, H/s, W/s] heatmaps",
                "one heatmap per keypoint of the dataset",
            )

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[np.ndarray]:
        raw = np.asarray(raw, dtype=np.float64)
        n, k, h, w = raw.shape
        flat = raw.reshape(n, k, -1)
        idx = flat.argmax(-1)
        py, px = idx // w, idx % w
        peak = flat.max(-1)
        out = []
        for b, i in enumerate(ids):
            th, tw = truth_hw(dataset.targets, int(i))
            kp = np.zeros((k, 3))
            for j in range(k):
                y, x = int(py[b, j]), int(px[b, j])
                dx = 0.25 * np.sign(raw[b, j, y, min(x + 1, w - 1)] - raw[b, j, y, max(x - 1, 0)])
                dy = 0.25 * np.sign(raw[b, j, min(y + 1, h - 1), x] - raw[b, j, max(y - 1, 0), x])
                kp[j] = ((x + 0.5 + dx) * tw / w, (y + 0.5 + dy) * th / h, peak[b, j])
            out.append(kp)
        return out

    def score(self, predictions: list[np.ndarray], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        truth = dataset.targets
        truth.need("keypoints", self.name, dataset.name)
        gt = coco.ground_truth(ids, truth, keypoints=True)
        dt = []
        for kp, i in zip(predictions, ids, strict=True):
            if len(kp):
                flat = np.concatenate([kp[:, :2], np.ones((len(kp), 1))], axis=1).reshape(-1)
                dt.append(
                    {
                        "image_id": int(i),
                        "category_id": 1,
                        "keypoints": [float(v) for v in flat],
                        "score": float(np.clip(kp[:, 2].mean(), 1e-6, None)),
                    }
                )
        stats = coco.evaluate(gt, dt, "keypoints", np.full(len(truth.keypoint_names), SIGMA))
        return {
            "pose.ap": float(max(stats[0], 0.0)),
            "pose.ap_50": float(max(stats[1], 0.0)),
            "pose.ap_75": float(max(stats[2], 0.0)),
            "pose.ar": float(max(stats[5], 0.0)),
            "pose.images": len(ids),
        }

    def empty(self, prediction: np.ndarray) -> np.ndarray:
        return prediction[:0]

    def canonical(self, prediction: np.ndarray) -> bytes:
        return np.round(np.asarray(prediction) * 16).astype(np.int64).tobytes()

    def confidence(self, prediction: np.ndarray) -> float:
        return float(np.clip(prediction[:, 2].mean(), 0, 1)) if len(prediction) else 0.0

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        truth = dataset.targets
        side = int(np.shape(dataset.x_train)[-1])
        cells = side // 2
        gy, gx = np.mgrid[0:cells, 0:cells]
        k = len(truth.keypoint_names)
        out = np.zeros((len(dataset.y_train), k, cells, cells), np.float32)
        for n, i in enumerate(dataset.y_train):
            for person in truth.keypoints[i]:
                for j, (x, y, v) in enumerate(person):
                    if v > 0:
                        cx, cy = x * cells / side - 0.5, y * cells / side - 0.5
                        g = np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * HEAT_SIGMA**2))
                        out[n, j] = np.maximum(out[n, j], g)
        return out

    def loss(self, out: Any, target: Any) -> Any:
        return torch.nn.functional.mse_loss(out, target) * 100.0
