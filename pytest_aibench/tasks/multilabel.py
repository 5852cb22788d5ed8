"""``multilabel``: several independent yes/no labels per sample (MIMIC-III's phenotyping), judged by the
macro-averaged AUROC over labels (its headline), micro AUROC and macro AUPRC, by scikit-learn.

Raw outputs are one logit per label (N, K); decoding applies the sigmoid. Labels with a single
class among the evaluated samples have no ROC curve and are left out of the macro average (named in
``multilabel.skipped``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.tasks import labelled

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")


class Multilabel:
    name = "multilabel"
    headline = "multilabel.macro_auroc"
    needs = "targets.labels"
    provides = declare(
        ("multilabel.macro_auroc", "AUROC per label, averaged (MIMIC-III phenotyping's headline)", True, "1"),
        ("multilabel.micro_auroc", "AUROC over every (sample, label) decision", True, "1"),
        ("multilabel.macro_auprc", "average precision per label, averaged", True, "1"),
        ("multilabel.auroc.*", "AUROC of one label (named in the metric)", True, "1"),
        ("multilabel.skipped", "labels left out: one class only among the evaluated samples", None),
    )
    provides |= column(provides, {"multilabel.macro_auroc": ("macro AUROC", "{:.3f}", 1.0, 1)})

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        k = len(dataset.targets.categories)
        labelled.want(where, self.name, raw, 2, k, f"[N, {k}] logits, one per label", "one output per label")

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[np.ndarray]:
        return list(1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=np.float64))))

    def score(self, predictions: list[np.ndarray], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        if not len(ids):
            return {}
        y, p = labelled.truth(self, dataset, ids), np.stack(predictions)
        names = dataset.targets.categories
        both = [k for k in range(y.shape[1]) if 0 < y[:, k].sum() < len(y)]
        per = {names[k]: float(labelled.metrics.roc_auc_score(y[:, k], p[:, k])) for k in both}
        out: dict[str, Any] = {f"multilabel.auroc.{n}": v for n, v in per.items()}
        out["multilabel.skipped"] = ", ".join(names[k] for k in range(y.shape[1]) if k not in both)
        if both:
            out["multilabel.macro_auroc"] = float(np.mean(list(per.values())))
            out["multilabel.macro_auprc"] = float(
                np.mean([labelled.metrics.average_precision_score(y[:, k], p[:, k]) for k in both])
            )
            out["multilabel.micro_auroc"] = float(
                labelled.metrics.roc_auc_score(y[:, both].ravel(), p[:, both].ravel())
            )
        return out

    def empty(self, prediction: np.ndarray) -> np.ndarray:
        return np.zeros_like(prediction)  # no answer: no label flagged

    def canonical(self, prediction: np.ndarray) -> bytes:
        return labelled.rounded(prediction)

    def confidence(self, prediction: np.ndarray) -> float:
        return float(np.min(np.abs(np.asarray(prediction) - 0.5)) * 2)

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        return labelled.train_targets(dataset).astype(np.float32)

    def loss(self, out: Any, target: Any) -> Any:
        return torch.nn.functional.binary_cross_entropy_with_logits(out, target)
