"""``recommendation``: rank a user's held-out item among sampled negatives (NCF's protocol): hit rate and
NDCG at 10 (HR@10 is the headline, as in NCF and AIIA), and the ROC area of the click scores over
every candidate (DLRM's AUC, by scikit-learn).

Raw outputs are one score per candidate (N, candidates). Ties rank the real item below its equals
(pessimistic, so a constant model scores no hits). An unanswered list scores every candidate equal."""

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

K = 10


def ranks(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """0-based rank of each list's real item: candidates scoring at least as high rank above it."""
    s = scores[np.arange(len(scores)), positive]
    return (scores >= s[:, None]).sum(axis=1) - 1


class Recommendation:
    name = "recommendation"
    headline = "recommendation.hr_10"
    needs = "targets.labels"
    provides = declare(
        ("recommendation.hr_10", "share of users whose held-out item ranks in the top 10 (HR@10)", True, "1"),
        ("recommendation.ndcg_10", "NDCG@10: 1/log2(rank + 2) when the item is in the top 10, else 0", True, "1"),
        ("recommendation.hr_5", "the held-out item ranks in the top 5 (HR@5)", True, "1"),
        ("recommendation.mrr", "mean reciprocal rank of the held-out item", True, "1"),
        ("recommendation.auc", "ROC area of the scores over every candidate (click-through AUC)", True, "1"),
        ("recommendation.lists", "candidate lists evaluated", None),
    )
    provides |= column(
        provides, {"recommendation.hr_10": ("HR@10", "{:.3f}", 1.0, 1), "recommendation.ndcg_10": ("NDCG@10", "{:.3f}")}
    )

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        c = int(np.shape(dataset.x_eval)[1])
        labelled.want(where, self.name, raw, 2, c, f"[N, {c}]: one score per candidate", "score every candidate row")

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[np.ndarray]:
        return list(np.round(np.asarray(raw, dtype=np.float64), 5))  # kernel noise must not reorder ties

    def score(self, predictions: list[np.ndarray], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        if not len(ids):
            return {}
        positive, scores = labelled.truth(self, dataset, ids).astype(np.int64), np.stack(predictions)
        r = ranks(scores, positive)
        clicked = np.zeros(scores.shape, bool)
        clicked[np.arange(len(scores)), positive] = True
        return {
            "recommendation.hr_10": float((r < K).mean()),
            "recommendation.ndcg_10": float(np.where(r < K, 1.0 / np.log2(r + 2.0), 0.0).mean()),
            "recommendation.hr_5": float((r < 5).mean()),
            "recommendation.mrr": float((1.0 / (r + 1.0)).mean()),
            "recommendation.auc": float(labelled.metrics.roc_auc_score(clicked.ravel(), scores.ravel())),
            "recommendation.lists": len(r),
        }

    def empty(self, prediction: np.ndarray) -> np.ndarray:
        return np.zeros_like(prediction)

    def canonical(self, prediction: np.ndarray) -> bytes:
        return labelled.rounded(prediction, 5)

    def confidence(self, prediction: np.ndarray) -> float:
        top = np.sort(np.asarray(prediction))[::-1][:2]
        return float(1.0 - np.exp(-(top[0] - top[1]))) if len(top) > 1 else 1.0

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        return labelled.train_targets(dataset).astype(np.int64)

    def loss(self, out: Any, target: Any) -> Any:
        """NCF's pointwise log loss: the real item is a click, the sampled negatives are not."""
        clicks = torch.nn.functional.one_hot(target, out.shape[1]).to(out.dtype)
        return torch.nn.functional.binary_cross_entropy_with_logits(out, clicks)
