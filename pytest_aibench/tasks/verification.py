"""``verification``: do two face photos show one person? LFW's protocol: accuracy over ten folds, each
judged at the threshold that is best on the other nine; with TAR at fixed FAR (IJB's operating points)
and the ROC's area, from scikit-learn's ROC curve.

Raw outputs are the two photos' embeddings side by side (N, 2 x D); a pair's prediction is their
cosine similarity. An unanswered pair scores -2 (below any cosine): rejected, as a door would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.tasks import labelled, shape_error

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")

FOLDS = 10
#: false accept rates the TAR is read at
FARS = {"verification.tar_at_far_1pct": 1e-2, "verification.tar_at_far_0_1pct": 1e-3}


def ten_fold_accuracy(same: np.ndarray, sim: np.ndarray, folds: int = FOLDS) -> float:
    """Mean accuracy over ``folds`` consecutive folds, each at the threshold best on the others."""
    parts = np.array_split(np.arange(len(same)), min(folds, len(same)))
    accs = []
    for k, test in enumerate(parts):
        train = np.concatenate([p for j, p in enumerate(parts) if j != k]) if len(parts) > 1 else test
        u = np.unique(sim[train])  # thresholds between neighbouring similarities, and beyond both ends
        candidates = np.concatenate([[u[0] - 1e-6], (u[1:] + u[:-1]) / 2, [u[-1] + 1e-6]])
        hits = ((sim[train][None, :] >= candidates[:, None]) == same[train][None, :]).mean(axis=1)
        best = np.flatnonzero(hits == hits.max())  # the middle of the best plateau: the widest margin
        accs.append(((sim[test] >= candidates[best[len(best) // 2]]) == same[test]).mean())
    return float(np.mean(accs))


def tar_at(same: np.ndarray, sim: np.ndarray, far: float) -> float:
    """True accept rate at the loosest threshold whose false accept rate is at most ``far``."""
    fpr, tpr, _ = labelled.metrics.roc_curve(same, sim)
    ok = fpr <= far
    return float(tpr[ok].max()) if ok.any() else 0.0


class Verification:
    name = "verification"
    headline = "verification.accuracy"
    needs = "targets.labels"
    provides = declare(
        ("verification.accuracy", "pairs judged right, ten folds at thresholds chosen on the others (LFW)", True, "1"),
        ("verification.auc", "area under the ROC curve of the pairs' similarities", True, "1"),
        ("verification.tar_at_far_1pct", "true accept rate at a 1 % false accept rate", True, "1"),
        ("verification.tar_at_far_0_1pct", "true accept rate at a 0.1 % false accept rate", True, "1"),
        ("verification.pairs", "pairs evaluated", None),
    )
    provides |= column(
        provides,
        {
            "verification.accuracy": ("verif acc", "{:.3f}", 1.0, 1),
            "verification.tar_at_far_1pct": ("TAR@1%", "{:.3f}"),
        },
    )

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        if np.ndim(raw) != 2 or np.shape(raw)[1] % 2:
            raise shape_error(
                where, self.name, raw, "[N, 2 x D]: both photos' embeddings side by side", "embed each photo"
            )

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[float]:
        e = np.asarray(raw, dtype=np.float64)
        a, b = np.split(e, 2, axis=1)
        norm = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
        return list((a * b).sum(axis=1) / norm)

    def score(self, predictions: list[float], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        same = labelled.truth(self, dataset, ids).astype(bool)
        if len(same) < 2 or same.all() or not same.any():
            return {}
        sim = np.round(np.asarray(predictions, dtype=np.float64), 6)  # kernel noise must not move a threshold
        out: dict[str, Any] = {
            "verification.accuracy": ten_fold_accuracy(same, sim),
            "verification.auc": float(labelled.metrics.roc_auc_score(same, sim)),
            "verification.pairs": len(same),
        }
        return out | {name: tar_at(same, sim, far) for name, far in FARS.items()}

    def empty(self, prediction: float) -> float:
        return -2.0

    def canonical(self, prediction: float) -> bytes:
        return labelled.rounded(np.array([prediction]), 6)

    def confidence(self, prediction: float) -> float:
        return float(min(1.0, abs(prediction - 0.5) * 2))

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        return labelled.train_targets(dataset).astype(np.float32)

    def loss(self, out: Any, target: Any) -> Any:
        """Logistic loss on the pair's cosine (scaled: a cosine alone is too flat a logit)."""
        a, b = out.chunk(2, dim=1)
        cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
        return torch.nn.functional.binary_cross_entropy_with_logits(10.0 * (cos - 0.5), target)
