"""Datasets: sources load arrays, this module splits them by seed and fingerprints the result."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.registry import Registry


class DatasetError(Exception):
    """A dataset file or its parameters are unusable; the message says which and why."""


class DatasetSource(Protocol):
    """Loads all labelled samples of one kind of dataset: x (N, ...) float32, y (N,) int."""

    needs_path: bool

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]: ...


@dataclass
class Dataset:
    """A seeded train/eval split, with a content hash recorded beside every result."""

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    num_classes: int
    split_seed: int
    layout: str = "NCHW"
    meta: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    #: truth beyond class ids (boxes, masks, keypoints, lanes, high-resolution images), indexed by the
    #: image ids that ``y_*`` then hold; None for classification
    targets: Any = None
    #: the task the source's truth is for unless the manifest says ``task:`` (None: classification)
    task: str | None = None

    def eval_subset(self, n: int | None) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` evaluation samples (all when None): the same ones for every item."""
        if n is None or n >= len(self.y_eval):
            return self.x_eval, self.y_eval
        return self.x_eval[:n], self.y_eval[:n]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "sha256": self.content_hash,
            "split_seed": self.split_seed,
            "train": int(len(self.y_train)),
            "eval": int(len(self.y_eval)),
            "num_classes": self.num_classes,
            "shape": list(self.x_eval.shape[1:]),
            **self.meta,
        }


def split(x: np.ndarray, y: np.ndarray, eval_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """A seeded permutation split; the same (data, fraction, seed) always gives the same split."""
    order = np.random.default_rng(seed).permutation(len(y))
    n_eval = max(1, int(round(len(y) * eval_fraction)))
    ev, tr = order[:n_eval], order[n_eval:]
    return x[tr], y[tr], x[ev], y[ev]


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 over dtype, shape and bytes of each array: equal hashes mean equal data."""
    h = hashlib.sha256()
    for a in arrays:
        if hasattr(a, "update_hash"):  # files on disk (the images source): their names and bytes
            a.update_hash(h)
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


_LOADED: dict[tuple[Any, ...], Dataset] = {}


def load(spec: DatasetSpec) -> Dataset:
    """``spec`` materialised once per process and shared read-only by every item that names it."""
    key = (
        spec.source,
        str(spec.path),
        spec.sha256,
        spec.eval_fraction,
        spec.split_seed,
        repr(sorted(spec.params.items())),
    )
    if key not in _LOADED:
        loaded = materialize(spec)
        for arr in (loaded.x_train, loaded.y_train, loaded.x_eval, loaded.y_eval):
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False
        _LOADED[key] = loaded
    return _LOADED[key]


def materialize(spec: DatasetSpec) -> Dataset:
    """Load ``spec`` through its registered source and split it."""

    source = DATASETS.get(spec.source)
    x, y, meta = source.load(spec)
    if len(x) != len(y) or len(y) < 2:
        raise DatasetError(f"dataset {spec.name!r}: x has {len(x)} samples and y {len(y)}; expected equal, at least 2")
    x_tr, y_tr, x_ev, y_ev = split(x, y, spec.eval_fraction, spec.split_seed)
    targets = meta.pop("targets", None)
    task = meta.pop("task", None)
    num_classes = int(meta.pop("num_classes", int(y.max()) + 1))
    layout = meta.pop("layout", "NCHW")
    if targets is not None:
        meta["truth_sha256"] = targets.digest()
    return Dataset(
        spec.name,
        spec.source,
        x_tr,
        y_tr,
        x_ev,
        y_ev,
        num_classes,
        spec.split_seed,
        layout,
        meta,
        fingerprint(x_tr, y_tr, x_ev, y_ev, *(() if targets is None else (targets,))),
        targets,
        task,
    )


DATASETS: Registry[DatasetSource] = Registry(
    "dataset source",
    "pytest_aibench.datasets",
    {
        "digits": "pytest_aibench.data.sources:DigitsSource",
        "npz": "pytest_aibench.data.sources:NpzSource",
        "shapes": "pytest_aibench.data.sources:ShapesSource",
        "vitals": "pytest_aibench.data.sources:VitalsSource",
        "signs": "pytest_aibench.data.sources:SignsSource",
        "reid": "pytest_aibench.data.sources:ReidSource",
        "lfw_subset": "pytest_aibench.data.sources:LfwSubsetSource",
        "images": "pytest_aibench.data.images:ImagesSource",
        "objects": "pytest_aibench.data.vision_sources:ObjectsSource",
        "figures": "pytest_aibench.data.vision_sources:FiguresSource",
        "roads": "pytest_aibench.data.vision_sources:RoadsSource",
        "pcb": "pytest_aibench.data.vision_sources:PcbSource",
        "street": "pytest_aibench.data.vision_sources:StreetSource",
        "superres": "pytest_aibench.data.vision_sources:SuperResSource",
        "coco": "pytest_aibench.data.coco_files:CocoSource",
        "masks": "pytest_aibench.data.coco_files:MasksSource",
        "icu": "pytest_aibench.data.task_sources:IcuSource",
        "face_pairs": "pytest_aibench.data.task_sources:FacePairsSource",
        "interactions": "pytest_aibench.data.task_sources:InteractionsSource",
        "clips": "pytest_aibench.data.task_sources:ClipsSource",
        "clicks": "pytest_aibench.data.task_sources:ClicksSource",
        "keywords": "pytest_aibench.data.task_sources:KeywordsSource",
        "speech": "pytest_aibench.data.task_sources:SpeechSource",
        "translation": "pytest_aibench.data.task_sources:TranslationSource",
        "qa": "pytest_aibench.data.task_sources:QaSource",
        "reviews": "pytest_aibench.data.task_sources:ReviewsSource",
        "jsonl": "pytest_aibench.data.text_files:JsonlSource",
        "ratings_csv": "pytest_aibench.data.interaction_files:RatingsCsvSource",
        "wavs": "pytest_aibench.data.audio_files:WavsSource",
        "prompts": "pytest_aibench.data.prompt_sources:PromptsSource",
        "prompts_jsonl": "pytest_aibench.data.prompt_sources:PromptsJsonlSource",
    },
)
