"""Dataset sources for the vision tasks' procedural scenes (:mod:`pytest_aibench.data.vision`).

Each yields images (N, 3, size, size) in [0, 1], image ids as ``y`` and the exact truth as
``Targets``; ``params: {samples, size, seed}`` (``superres`` adds ``scale``). Each names the task its
truth is for by default; a manifest's ``task:`` picks another the truth supports (``objects`` carries
boxes and masks: detection or segmentation)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, vision
from pytest_aibench.data.sources import _int_params


class _Rendered:
    needs_path = False
    resizable = True
    kind = ""
    task = "detection"
    defaults: dict[str, Any] = {"samples": 1000, "size": 64, "seed": 0, "height": 0, "width": 0}

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, self.defaults)
        try:
            x, truth = vision.generate(self.kind, p["seed"], p["samples"], p["size"], p["height"], p["width"])
        except ValueError as exc:
            raise DatasetError(f"dataset {spec.name!r}: {exc}") from None
        meta: dict[str, Any] = {
            "num_classes": max(1, len(truth.categories)),
            "layout": "NCHW",
            "generator": self.kind,
            "categories": list(truth.categories),
            "targets": truth,
            "task": self.task,
            **p,
        }
        return x, np.arange(len(x), dtype=np.int64), meta


class ObjectsSource(_Rendered):
    """Circles, squares and triangles with boxes and class masks (detection, segmentation)."""

    kind = "objects"


class FiguresSource(_Rendered):
    """One stick figure per image, five keypoints (pose)."""

    kind, task = "figures", "pose"


class RoadsSource(_Rendered):
    """Roads with up to four lanes at TuSimple-style rows (lanes)."""

    kind, task = "roads", "lanes"


class PcbSource(_Rendered):
    """Printed circuit boards with solder defects, boxed (Ianvs's PCB-AoI detection)."""

    kind = "pcb"


class StreetSource(_Rendered):
    """Traffic signs of eight classes in street clutter, boxed (traffic-sign detection)."""

    kind = "street"


class SuperResSource:
    """The ``objects`` scenes at ``size`` (the truth) and downsampled by ``scale`` (the input), by area
    averaging. ``params: {samples: 600, size: 64, scale: 2, seed: 0}``; ``height`` and ``width`` (of the
    input) for a non-square one; ``channels: 1`` for luma only (BT.601, in [0, 1]), as FSRCNN and ESPCN
    were trained."""

    needs_path = False
    resizable = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(
            spec, {"samples": 600, "size": 64, "scale": 2, "seed": 0, "height": 0, "width": 0, "channels": 3}
        )
        scale = p["scale"]
        if scale < 2 or p["size"] % scale:
            raise DatasetError(
                f"dataset {spec.name!r}: params.scale must be an integer >= 2 that divides params.size "
                f"({p['size']}), got {scale}"
            )
        if p["channels"] not in (1, 3):
            raise DatasetError(
                f"dataset {spec.name!r}: params.channels must be 1 (luma) or 3 (RGB), got {p['channels']}"
            )
        h, w = scale * (p["height"] or p["size"] // scale), scale * (p["width"] or p["size"] // scale)
        try:
            hr, _ = vision.generate(
                "objects", p["seed"], p["samples"], p["size"], h if p["height"] else 0, w if p["width"] else 0
            )
        except ValueError as exc:
            raise DatasetError(f"dataset {spec.name!r}: {exc}") from None
        if p["channels"] == 1:  # BT.601 luma, kept in [0, 1]
            hr = np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), hr, axes=([0], [1]))[:, None].astype(
                np.float32
            )
        truth = vision.Targets(size=hr.shape[-2:], hr=hr, scale=scale)
        meta: dict[str, Any] = {
            "num_classes": 1,
            "layout": "NCHW",
            "generator": "objects, downsampled",
            "downsampling": f"area average x{scale}",
            "targets": truth,
            "task": "super_resolution",
            **p,
        }
        return vision.downsample(hr, scale), np.arange(len(hr), dtype=np.int64), meta
