"""Tasks: what a dataset's truth is, how a model's raw outputs become predictions, and how they are judged.

A task is one declared contribution (one file plus one registry entry): its metrics (``provides``,
with the headline that ranks leaderboards), ``decode`` (raw outputs to predictions, outside the
timed region: post-processing is timed apart, like preprocessing), ``score`` (the field's own
reference implementation: pycocotools, scikit-image, TuSimple's rules), and, for the zoo build,
``train_targets``/``loss``. Runners return raw outputs; a paradigm hands them back as
``Measurement.scores``; :func:`finish` decodes and scores them once, for every paradigm.

Register your own through the ``pytest_aibench.tasks`` entry-point group or
``pytest_aibench.tasks.TASKS.register(name, obj)``.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pytest_aibench.core.metric import MetricInfo, column, declare
from pytest_aibench.errors import ArtifactError
from pytest_aibench.registry import Registry

if TYPE_CHECKING:
    from pytest_aibench.data import Dataset
    from pytest_aibench.measure import Measurement

CLASSIFICATION = "classification"


class Task(Protocol):
    name: str
    provides: dict[str, MetricInfo]
    headline: str  # the metric that ranks this task's leaderboard and that the zoo card reports
    needs: str  # the Targets field it scores against (errors name it)

    def check(self, raw: np.ndarray, dataset: Dataset, where: str) -> None:
        """Raise ArtifactError unless ``raw`` (one batch's outputs) is what this task decodes."""

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Dataset, input_hw: tuple[int, int]) -> list[Any]:
        """One prediction per sample (``ids``: the samples' image ids), in the truth's pixel coordinates."""

    def score(self, predictions: list[Any], ids: np.ndarray, dataset: Dataset) -> dict[str, Any]: ...

    def canonical(self, prediction: Any) -> bytes:
        """A prediction's exact bytes (rounded where floats carry kernel noise): the prediction hash."""

    def confidence(self, prediction: Any) -> float:
        """How sure the model is of one sample (hard-example mining sends the unsure ones up)."""

    # for the zoo build only (a task whose models are trained elsewhere may leave these out)
    def train_targets(self, dataset: Dataset, config: dict[str, Any]) -> np.ndarray:
        """One training target per ``dataset.y_train`` sample, stacked (heatmaps, masks, cell ids...)."""

    def loss(self, out: Any, target: Any) -> Any:
        """The training loss of a batch of raw outputs against its targets (torch tensors)."""


COMMON = declare(
    ("postprocess.ms_per_image", "decoding raw outputs into predictions (NMS, argmax...), per image", False, "ms"),
    ("quality.fp32", "the same model's fp32 headline on the same samples (its card)", None),
    ("quality.loss", "how much worse than fp32 this variant's headline is (AIIA's accuracy loss, any task)", False),
    ("quality.loss_ratio", "quality.loss / quality.fp32 (AIIA's accuracy-loss ratio)", False),
    ("quality.na", "why quality is not measured (seeded untrained weights)", None),
)
COMMON |= column(COMMON, {"postprocess.ms_per_image": ("post ms", "{:.3f}")})


def task_of(name: str | None) -> Task:
    return TASKS.get(name or CLASSIFICATION)


def is_dense(name: str | None) -> bool:
    """Whether ``name`` is a task other than classification (its outputs go through :func:`finish`)."""
    return (name or CLASSIFICATION) != CLASSIFICATION


def input_hw(x: Any) -> tuple[int, int]:
    shape = tuple(getattr(x, "shape", ()))
    return (int(shape[-2]), int(shape[-1])) if len(shape) >= 3 else (0, 0)


def finish(task_name: str, m: Measurement, dataset: Dataset, fp32_quality: float | None = None) -> None:
    """Decode ``m.scores`` (raw outputs, eval order; ``m.labels`` are the image ids) and score them into
    ``m.metrics``; an unanswered sample (prediction -1: a lost reply) counts as no prediction.
    Classification's own metric groups then find nothing to count (predictions cleared)."""
    task = task_of(task_name)
    if m.scores is None or m.labels is None:
        return
    if m.accuracy_na:
        m.metrics["quality.na"] = m.accuracy_na
        m.predictions = None
        m.info["task"] = {"name": task.name, "headline": task.headline, "judged": False}  # its own leaderboard
        return
    ids = np.asarray(m.labels)
    t0 = time.perf_counter()
    preds = task.decode(m.scores, ids, dataset, m.info.pop("input_hw", None) or input_hw(dataset.x_eval))
    seconds = time.perf_counter() - t0
    answered = None if m.predictions is None else np.asarray(m.predictions) != -1
    if answered is not None and len(answered) == len(preds) and not answered.all():
        empty = getattr(task, "empty", None)
        preds = [p if ok or empty is None else empty(p) for p, ok in zip(preds, answered, strict=True)]
    m.metrics.update(task.score(preds, ids, dataset))
    m.metrics["postprocess.ms_per_image"] = seconds * 1e3 / max(1, len(preds))
    if m.preprocess_count:  # image files: decoding and resizing, timed apart as for classification's VIPS
        m.metrics["preprocess.ms_per_image"] = m.preprocess_s * 1e3 / m.preprocess_count
    head = m.metrics.get(task.headline)
    if fp32_quality is not None and isinstance(head, float):
        loss = fp32_quality - round(head, 6)  # the card keeps 6 decimals: equal models lose exactly 0
        info = getattr(task, "provides", {}).get(task.headline)
        if info is not None and info.higher_is_better is False:
            loss = -loss  # an error rate (WER) loses by rising
        m.metrics |= {
            "quality.fp32": fp32_quality,
            "quality.loss": loss,
            "quality.loss_ratio": loss / fp32_quality if fp32_quality else 0.0,
        }
    h = hashlib.sha256()
    for p in preds:
        h.update(task.canonical(p))
    m.info["prediction_hash"] = h.hexdigest()
    m.info["task"] = {"name": task.name, "headline": task.headline, "postprocess_s": round(seconds, 6)}
    m.predictions = None  # not class ids: top-1, VIPS and agreement do not apply
    m.reference = None


def truth_hw(truth: Any, i: int) -> tuple[int, int]:
    """Image ``i``'s own (height, width): files keep theirs, rendered scenes share the dataset's size."""
    sizes = getattr(truth, "image_sizes", None)
    return (int(sizes[i][0]), int(sizes[i][1])) if sizes is not None else (int(truth.size[0]), int(truth.size[1]))


def check_outputs(task_name: str, raw: np.ndarray, dataset: Dataset, where: str) -> None:
    if is_dense(task_name):
        task_of(task_name).check(raw, dataset, where)


def shape_error(where: str, task: str, raw: np.ndarray, expected: str, hint: str) -> ArtifactError:
    return ArtifactError(
        f"{where}: the model outputs shape {list(np.shape(raw))}, but task {task!r} decodes {expected}; {hint}"
    )


def catalogue_entries() -> dict[str, MetricInfo]:
    """Every registered task's metrics (the catalogue reads them)."""
    out = dict(COMMON)
    for name in TASKS.names():
        out |= getattr(TASKS.get(name), "provides", {})
    return out


TASKS: Registry[Task] = Registry(
    "task",
    "pytest_aibench.tasks",
    {
        "classification": "pytest_aibench.tasks.classification:Classification",
        "detection": "pytest_aibench.tasks.detection:Detection",
        "segmentation": "pytest_aibench.tasks.segmentation:Segmentation",
        "lanes": "pytest_aibench.tasks.lanes:Lanes",
        "super_resolution": "pytest_aibench.tasks.superres:SuperResolution",
        "pose": "pytest_aibench.tasks.pose:Pose",
        "multilabel": "pytest_aibench.tasks.multilabel:Multilabel",
        "verification": "pytest_aibench.tasks.verification:Verification",
        "recommendation": "pytest_aibench.tasks.recommendation:Recommendation",
        "action": "pytest_aibench.tasks.action:Action",
        "keyword_spotting": "pytest_aibench.tasks.speech:KeywordSpotting",
        "speech_recognition": "pytest_aibench.tasks.speech:SpeechRecognition",
        "translation": "pytest_aibench.tasks.text:Translation",
        "question_answering": "pytest_aibench.tasks.text:QuestionAnswering",
        "generation": "pytest_aibench.tasks.generation:Generation",
    },
)
