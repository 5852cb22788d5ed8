"""What a built variant predicts and how good it is, by the recipe's task: class ids and top-1 for a
classifier, a task's decoded predictions and its headline (mAP, mIoU, PSNR...) otherwise."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from pytest_aibench import tasks
from pytest_aibench.builder.isa_check import BATCH
from pytest_aibench.builder.recipes import Recipe
from pytest_aibench.data import Dataset
from pytest_aibench.paradigms.single import prediction_hash


def predictions(session: Any, data: Dataset, batch: int = BATCH, task: str = "classification") -> Any:
    """Class ids on the evaluation split; for another task, its decoded predictions."""
    x = session.adapt(data.x_eval)
    if not tasks.is_dense(task):
        return np.concatenate([session.infer(x[i : i + batch]).argmax(-1) for i in range(0, len(x), batch)])
    raw = np.concatenate([session.infer(x[i : i + batch]) for i in range(0, len(x), batch)])
    tasks.task_of(task).check(raw, data, session.__class__.__name__)
    return tasks.task_of(task).decode(raw, data.y_eval, data, tasks.input_hw(x))


def quality(recipe: Recipe, preds: Any, data: Dataset) -> float:
    """The recipe task's headline on the evaluation split (top-1 for classification)."""
    if not tasks.is_dense(recipe.task):
        return float((preds == data.y_eval).mean())
    task = tasks.task_of(recipe.task)
    return float(task.score(preds, data.y_eval, data)[task.headline])


def lower_is_better(recipe: Recipe) -> bool:
    """Whether the recipe's headline is an error (WER): quality then drops upwards."""
    task = tasks.task_of(recipe.task)
    info = getattr(task, "provides", {}).get(task.headline)
    return info is not None and info.higher_is_better is False


def task_hash(recipe: Recipe, preds: Any) -> str:
    if not tasks.is_dense(recipe.task):
        return prediction_hash(preds)
    h = hashlib.sha256()
    for p in preds:
        h.update(tasks.task_of(recipe.task).canonical(p))
    return h.hexdigest()


def _stored(recipe: Recipe, preds: Any) -> np.ndarray:
    """What predictions.npz keeps of a variant: class ids (int16); for another task nothing but the hash on
    the card (``predictions_sha256``: boxes, masks and images are too large to commit per variant)."""
    if not tasks.is_dense(recipe.task):
        return np.asarray(preds).astype(np.int16)
    return np.zeros(0, np.uint8)
