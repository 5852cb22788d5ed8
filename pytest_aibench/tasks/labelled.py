"""Shared plumbing of the tasks whose truth is one array per sample (``Targets.labels``): the truth of
the evaluated ids, the training targets, and scikit-learn, the field's reference for ROC curves."""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_aibench import _lazy
from pytest_aibench.tasks import shape_error

metrics = _lazy.lazy("sklearn.metrics")
INSTALL = "pip install 'pytest-aibench[tasks]' (scikit-learn: ROC curves and AUC)"


def truth(task: Any, dataset: Any, ids: np.ndarray) -> np.ndarray:
    """The ``labels`` of samples ``ids`` (an error names the dataset when it carries none)."""
    return np.asarray(dataset.targets.need("labels", task.name, dataset.name))[np.asarray(ids, dtype=np.int64)]


def train_targets(dataset: Any) -> np.ndarray:
    return np.asarray(dataset.targets.labels)[np.asarray(dataset.y_train)]


def rounded(values: np.ndarray, decimals: int = 4) -> bytes:
    """Float outputs rounded where kernels differ in the last bits: the prediction hash's bytes."""
    return np.round(np.asarray(values, dtype=np.float64), decimals).astype(np.float32).tobytes()


def want(where: str, task: str, raw: np.ndarray, ndim: int, width: int | None, expected: str, hint: str) -> None:
    if np.ndim(raw) != ndim or (width is not None and np.shape(raw)[-1] != width):
        raise shape_error(where, task, raw, expected, hint)


class TextPredictions:
    """What the rest of the house reads of a task whose predictions are strings (transcripts, translations,
    answers): an unanswered sample's prediction, the exact bytes the prediction hash takes, a confidence."""

    def empty(self, prediction: str) -> str:
        return ""

    def canonical(self, prediction: str) -> bytes:
        return prediction.encode() + b"\x1e"

    def confidence(self, prediction: str) -> float:
        return 1.0
