"""``action``: which action a clip shows (UCF101's task), top-1 and top-5 over clips.

Raw outputs are class logits (N, actions); a clip's prediction is its five best classes. Truth is
``Targets.labels`` (the clip's action), so the sample ids stay the split's keys like every task's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.data import DatasetError
from pytest_aibench.tasks import labelled

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")


def top_k_metrics(prefix: str, what: str, header: str) -> dict[str, Any]:
    """``prefix.top1``, ``prefix.top5`` and the count of ``what`` evaluated (a top-k task's table)."""
    provides = declare(
        (f"{prefix}.top1", f"share of {what} whose best class is the truth", True, "1"),
        (f"{prefix}.top5", f"share of {what} whose truth is among the five best classes", True, "1"),
        (f"{prefix}.{what}", f"{what} evaluated", None),
    )
    return provides | column(provides, {f"{prefix}.top1": (header, "{:.3f}", 1.0, 1)})


class Action:
    """A class per sample from ``Targets.labels``, judged top-1/top-5 under the task's own names (so a
    suite's leaderboards and gates say what was recognised); keyword spotting reuses it."""

    name = "action"
    prefix, what = "action", "clips"
    headline = "action.top1"
    needs = "targets.labels"
    provides = top_k_metrics("action", "clips", "clip top-1")

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        k = len(dataset.targets.categories)
        if not k:
            raise DatasetError(
                f"dataset {dataset.name!r} names no classes for task {self.name!r}: its source yields "
                f"{dataset.task or 'classification'} truth; set the model's task: to that, or pick a source with "
                "classes (clips, keywords)"
            )
        labelled.want(where, self.name, raw, 2, k, f"[N, {k}] class logits", f"one output per class ({k})")

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[np.ndarray]:
        order = np.argsort(-np.asarray(raw, dtype=np.float64), axis=1, kind="stable")[:, :5]
        return list(order.astype(np.int64))

    def score(self, predictions: list[np.ndarray], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        if not len(ids):
            return {}
        y, best = labelled.truth(self, dataset, ids), np.stack(predictions)
        return {
            f"{self.prefix}.top1": float((best[:, 0] == y).mean()),
            f"{self.prefix}.top5": float((best == y[:, None]).any(axis=1).mean()),
            f"{self.prefix}.{self.what}": len(y),
        }

    def empty(self, prediction: np.ndarray) -> np.ndarray:
        return np.full_like(prediction, -1)  # no answer: no class

    def canonical(self, prediction: np.ndarray) -> bytes:
        return np.asarray(prediction, dtype=np.int64).tobytes()

    def confidence(self, prediction: np.ndarray) -> float:
        return 1.0

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        return labelled.train_targets(dataset).astype(np.int64)

    def loss(self, out: Any, target: Any) -> Any:
        return torch.nn.functional.cross_entropy(out, target)
