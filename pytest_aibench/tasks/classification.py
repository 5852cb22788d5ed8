"""``classification``: one label per sample, the default task. Its metrics are the classic metric groups
(accuracy, top-5, VIPS, accuracy loss, binary, retrieval): the runner's scores are class scores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import MetricInfo

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")


class Classification:
    name = "classification"
    headline = "accuracy"
    needs = "labels"
    provides: dict[str, MetricInfo] = {}  # declared by the accuracy, vips and accuracy_loss groups

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        """Checked where the scores are made (paradigms.single.predict names the dataset's classes)."""

    def decode(self, raw: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[Any]:
        return list(np.asarray(raw).argmax(-1))

    def score(self, predictions: list[Any], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        return {"accuracy": float((np.asarray(predictions) == ids).mean())} if len(ids) else {}

    def canonical(self, prediction: Any) -> bytes:
        return int(prediction).to_bytes(8, "little", signed=True)

    def confidence(self, prediction: Any) -> float:
        return 1.0

    # the zoo build trains classifiers with cross-entropy on the labels
    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        return np.asarray(dataset.y_train)

    def loss(self, out: Any, target: Any) -> Any:
        return torch.nn.functional.cross_entropy(out, target)
