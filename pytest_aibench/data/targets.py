"""Ground truth beyond a class id: boxes, masks, keypoints, lanes, high-resolution images.

A dataset whose task is not classification keeps ``y`` as image ids (so the seeded split, the
eval subset and every fingerprint work unchanged) and its truth here, indexed by those ids.
Everything is exact: the generators know what they drew.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_aibench.data import DatasetError


@dataclass
class Targets:
    """Per-image truth, each field optional (a task reads the ones it needs and says if one is missing).

    - ``boxes[i]``: float32 (k, 4) x, y, width, height in pixels; ``classes[i]``: int64 (k,) category
      ids (0-based); ``areas[i]``: float (k,) object areas in pixels (the mask's, else the box's)
    - ``masks``: uint8 (N, H, W) class per pixel (0 = background)
    - ``keypoints[i]``: float32 (p, K, 3) x, y, visibility (COCO's 0/1/2) for each person
    - ``lanes``: float32 (N, L, R) a lane's x at each row of ``rows`` (pixels), -2 where absent
    - ``hr``: float32 (N, C, H, W) the high-resolution images the inputs were made from
    - masks of files may be a list of (H_i, W_i) arrays, one per image
    - ``labels``: (N, ...) per-sample truth of the non-image tasks: multi-hot phenotypes (N, K), a pair's
      same/different (N,), the held-out item's position among a user's candidates (N,), a clip's action
    """

    size: tuple[int, int]  # (height, width) of the images the truth is measured in
    categories: tuple[str, ...] = ()
    boxes: list[np.ndarray] | None = None
    classes: list[np.ndarray] | None = None
    areas: list[np.ndarray] | None = None
    masks: np.ndarray | None = None
    keypoints: list[np.ndarray] | None = None
    keypoint_names: tuple[str, ...] = ()
    lanes: np.ndarray | None = None
    rows: np.ndarray | None = None
    hr: np.ndarray | None = None
    scale: int = 1
    #: (N, 2) each image's own (height, width) where they differ (files); None: every image is ``size``
    image_sizes: np.ndarray | None = None
    labels: np.ndarray | None = None
    #: per-sample reference text (transcripts, answers, translations), indexed like every field
    texts: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        for f in (self.boxes, self.masks, self.keypoints, self.lanes, self.hr, self.labels, self.texts):
            if f is not None:
                return len(f)
        return 0

    def update_hash(self, h: Any) -> None:
        """Feed every array into ``h`` (the dataset fingerprint covers the truth, not only the images)."""
        h.update(repr((self.size, self.categories, self.keypoint_names, self.scale)).encode())
        if self.texts is not None:
            h.update("\x1e".join(self.texts).encode())
        for name in ("boxes", "classes", "areas", "keypoints"):
            for a in getattr(self, name) or ():
                h.update(f"{name}{a.dtype.str}{a.shape}".encode())
                h.update(np.ascontiguousarray(a).tobytes())
        for name in ("masks", "lanes", "rows", "hr", "image_sizes", "labels"):
            a = getattr(self, name)
            if hasattr(a, "update_hash"):  # masks on disk: their names and bytes
                a.update_hash(h)
            elif a is not None:
                h.update(f"{name}{a.dtype.str}{a.shape}".encode())
                h.update(np.ascontiguousarray(a).tobytes())

    def digest(self) -> str:
        h = hashlib.sha256()
        self.update_hash(h)
        return h.hexdigest()

    def need(self, name: str, task: str, dataset: str) -> Any:
        """The field ``name``, or a clear error saying the dataset does not carry what the task scores."""
        value = getattr(self, name)
        if value is None:
            raise DatasetError(
                f"dataset {dataset!r} carries no {name} for task {task!r}; choose a source that yields them "
                "(see the README's task table) or another task"
            )
        return value
