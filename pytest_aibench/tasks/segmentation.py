"""``segmentation``: a class per pixel, judged by mean IoU and pixel accuracy over the whole split.

Raw outputs are class logits (N, classes, H, W), decoded by argmax (and, for images of another size,
nearest-neighbour resized to the image's own pixels). IoU per class comes from one confusion matrix
accumulated over every evaluated pixel, as the Cityscapes and PASCAL VOC evaluations do; classes
absent from both the truth and the predictions are left out of the mean."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.tasks import shape_error, truth_hw

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")


def confusion(truth: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts, rows the truth; labels outside [0, classes) are ignored (255: void)."""
    t, p = truth.reshape(-1).astype(np.int64), pred.reshape(-1).astype(np.int64)
    ok = (t >= 0) & (t < classes)
    return np.bincount(t[ok] * classes + np.clip(p[ok], 0, classes - 1), minlength=classes**2).reshape(classes, classes)


def scores_of(cm: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per-class IoU (NaN where the class is in neither), their mean, and pixel accuracy."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(union > 0, tp / union, np.nan)
    total = cm.sum()
    return (
        per_class,
        float(np.nanmean(per_class)) if np.isfinite(per_class).any() else 0.0,
        float(tp.sum() / total) if total else 0.0,
    )


def _nearest(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    if mask.shape == hw:
        return mask
    ys = np.minimum((np.arange(hw[0]) + 0.5) * mask.shape[0] / hw[0], mask.shape[0] - 1).astype(int)
    xs = np.minimum((np.arange(hw[1]) + 0.5) * mask.shape[1] / hw[1], mask.shape[1] - 1).astype(int)
    return mask[ys][:, xs]


class Segmentation:
    name = "segmentation"
    headline = "segmentation.miou"
    needs = "masks"
    provides = declare(
        ("segmentation.miou", "mean IoU over classes (one confusion matrix over every pixel)", True, "1"),
        ("segmentation.pixel_accuracy", "share of pixels labelled correctly", True, "1"),
        ("segmentation.iou.*", "IoU of one class (named in the metric)", True, "1"),
        ("segmentation.pixels", "pixels evaluated", None),
    )
    provides |= column(
        provides,
        {"segmentation.miou": ("mIoU", "{:.3f}", 1.0, 1), "segmentation.pixel_accuracy": ("pix acc", "{:.3f}")},
    )

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        classes = _classes(dataset)
        if np.ndim(raw) != 4 or np.shape(raw)[1] != classes:
            raise shape_error(
                where,
                self.name,
                raw,
                f"[N, {classes}, H, W] class logits (background and {classes - 1} classes)",
                "the model's classes must be the dataset's (background first)",
            )

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[np.ndarray]:
        labels = np.asarray(raw).argmax(1).astype(np.uint8)
        return [_nearest(labels[n], truth_hw(dataset.targets, int(i))) for n, i in enumerate(ids)]

    def score(self, predictions: list[np.ndarray], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        truth = dataset.targets.need("masks", self.name, dataset.name)
        classes = _classes(dataset)
        cm = np.zeros((classes, classes), np.int64)
        for p, i in zip(predictions, ids, strict=True):
            cm += confusion(truth[int(i)], p, classes)
        per_class, miou, acc = scores_of(cm)
        names = ("background", *dataset.targets.categories)
        out: dict[str, Any] = {
            "segmentation.miou": miou,
            "segmentation.pixel_accuracy": acc,
            "segmentation.pixels": int(cm.sum()),
        }
        out |= {
            f"segmentation.iou.{names[c] if c < len(names) else c}": float(v)
            for c, v in enumerate(per_class)
            if np.isfinite(v)
        }
        return out

    def empty(self, prediction: np.ndarray) -> np.ndarray:
        return np.zeros_like(prediction)  # no answer: every pixel background

    def canonical(self, prediction: np.ndarray) -> bytes:
        return np.ascontiguousarray(prediction, dtype=np.uint8).tobytes()

    def confidence(self, prediction: np.ndarray) -> float:
        return 1.0  # argmax labels carry no confidence; mining needs the logits (not kept)

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        return np.asarray(dataset.targets.masks)[np.asarray(dataset.y_train)].astype(np.int64)

    def loss(self, out: Any, target: Any) -> Any:
        return torch.nn.functional.cross_entropy(out, target)


def _classes(dataset: Any) -> int:
    return 1 + len(dataset.targets.categories)
