"""Built-in dataset sources: the shipped digits, and a user's labelled ``.npz`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, procedural, scenes, vitals
from pytest_aibench.data.procedural import CLASSES
from pytest_aibench.data.transforms import resize_bilinear
from pytest_aibench.data.vitals import CHANNELS
from pytest_aibench.files import ChecksumError, recorded_sums, shipped, verify


class DigitsSource:
    """scikit-learn's 1,797 labelled 8x8 digits (shipped copy), as float32 (N, 1, 8, 8) in [0, 1];
    ``params: {size: 32, channels: 3}`` upscales them (bilinear) and repeats the grey channel."""

    needs_path = False
    resizable = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        x, y = _shipped_npz("digits.npz")
        meta: dict[str, Any] = {"num_classes": 10, "layout": "NCHW", "origin": "sklearn.datasets.load_digits"}
        return _resized(x / 16.0, spec, 8, meta), y, meta


class ShapesSource:
    """Procedural coloured shapes and textures (see :mod:`pytest_aibench.data.procedural`).
    ``params: {samples: 3000, size: 32, classes: 10, seed: 0}``, and ``num_classes`` (default ``classes``):
    the label space the model scores, so a 1000-class network can run on the 10 shapes."""

    needs_path = False
    resizable = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:

        p = spec.params
        try:
            count, size, classes, seed = (
                int(p.get("samples", 3000)),
                int(p.get("size", 32)),
                int(p.get("classes", 10)),
                int(p.get("seed", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"dataset {spec.name!r}: params must be integers ({exc})") from None
        # the label space a model scores (1000 for an ImageNet-sized head); the shapes use its first `classes`
        space = p.get("num_classes", classes)
        if not isinstance(space, int) or isinstance(space, bool) or space < classes:
            raise DatasetError(
                f"dataset {spec.name!r}: params.num_classes must be an integer >= classes ({classes}), "
                f"got {space!r}; it is the label space the model scores, e.g. 1000 for ImageNet heads"
            )
        try:
            x, y = procedural.generate(seed, count, size, classes)
        except ValueError as exc:
            raise DatasetError(f"dataset {spec.name!r}: {exc}") from None
        return (
            x,
            y,
            {
                "num_classes": space,
                "layout": "NCHW",
                "generator": "shapes",
                "seed": seed,
                "classes": list(CLASSES[:classes]),
                "size": size,
            },
        )


def _int_params(spec: DatasetSpec, defaults: dict[str, Any]) -> dict[str, Any]:
    """``spec.params`` over ``defaults``, each converted to the default's type; unknown keys refused."""
    unknown = sorted(set(spec.params) - set(defaults))
    if unknown:
        raise DatasetError(
            f"dataset {spec.name!r}: unknown params {', '.join(unknown)} for source {spec.source!r}; "
            f"known: {', '.join(defaults)}"
        )
    out = {}
    for key, default in defaults.items():
        try:
            out[key] = type(default)(spec.params.get(key, default))
        except (TypeError, ValueError):
            kind = {"int": "an integer", "float": "a number"}.get(type(default).__name__, type(default).__name__)
            raise DatasetError(
                f"dataset {spec.name!r}: params.{key} must be {kind}, got {spec.params.get(key)!r}"
            ) from None
    return out


class VitalsSource:
    """Procedural ICU vital signs, (N, steps, 5) z-scores, label 1 = deterioration in the window
    (see :mod:`pytest_aibench.data.vitals`). ``params: {samples, steps, positive_fraction, seed}``."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:

        p = _int_params(spec, {"samples": 2000, "steps": 48, "positive_fraction": 0.3, "seed": 0})
        try:
            x, y = vitals.generate(p["seed"], p["samples"], p["steps"], p["positive_fraction"])
        except ValueError as exc:
            raise DatasetError(f"dataset {spec.name!r}: {exc}") from None
        return (
            x,
            y,
            {
                "num_classes": 2,
                "layout": "NTC",
                "generator": "vitals",
                "channels": list(CHANNELS),
                "classes": ["stable", "deteriorating"],
                "interval_min": 5,
                **p,
            },
        )


class _SceneSource:
    kind = ""
    defaults: dict[str, Any] = {}
    resizable = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:

        p = _int_params(spec, self.defaults)
        kw = {k: v for k, v in p.items() if k not in ("samples", "size", "seed")}
        try:
            x, y = scenes.generate(self.kind, p["seed"], p["samples"], p["size"], **kw)
        except ValueError as exc:
            raise DatasetError(f"dataset {spec.name!r}: {exc}") from None
        classes = kw.get("num_classes") or kw.get("identities")
        meta = {"num_classes": classes, "layout": "NCHW", "generator": self.kind, **p}
        if self.kind == "signs":
            meta["classes"] = list(scenes.SIGN_CLASSES[:classes])
        return x, y, meta


class SignsSource(_SceneSource):
    """Procedural traffic signs (8 classes; see :mod:`pytest_aibench.data.scenes`).
    ``params: {samples: 2400, size: 32, num_classes: 8, seed: 0}``."""

    needs_path = False
    kind = "signs"
    defaults = {"samples": 2400, "size": 32, "num_classes": 8, "seed": 0}

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        if not 2 <= int(spec.params.get("num_classes", 8)) <= 8:
            raise DatasetError(f"dataset {spec.name!r}: params.num_classes must be within 2..8")
        return super().load(spec)


class ReidSource(_SceneSource):
    """Procedural pedestrians seen by several cameras; the label is the identity.
    ``params: {samples: 1800, size: 32, identities: 30, cameras: 3, seed: 0}``."""

    needs_path = False
    kind = "reid"
    defaults = {"samples": 1800, "size": 32, "identities": 30, "cameras": 3, "seed": 0}


class LfwSubsetSource:
    """scikit-image's ``lfw_subset`` (shipped copy): 100 faces and 100 non-faces from LFW, 25x25
    grey, as float32 (N, 1, 25, 25) in [0, 1]; label 1 = face. ``params: {size, channels}`` resize."""

    needs_path = False
    resizable = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        x, y = _shipped_npz("lfw_subset.npz")
        meta: dict[str, Any] = {
            "num_classes": 2,
            "layout": "NCHW",
            "classes": ["non_face", "face"],
            "origin": "skimage.data.lfw_subset()",
        }
        return _resized(x, spec, 25, meta), y, meta


def _shipped_npz(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A dataset copy shipped under fixtures/datasets, refused unless its digest matches SHA256SUMS:
    grey images as float32 (N, 1, H, W) and int64 labels."""
    path = shipped(f"datasets/{name}")
    try:
        verify(path, recorded_sums(path.parent).get(name), "dataset")
    except ChecksumError as exc:
        raise DatasetError(str(exc)) from None
    with np.load(path, allow_pickle=False) as z:
        return z["x"].astype(np.float32)[:, None, :, :], z["y"].astype(np.int64)


def _resized(x: np.ndarray, spec: DatasetSpec, native: int, meta: dict[str, Any]) -> np.ndarray:
    """Apply ``params: {size, channels}``: bilinear resize from ``native`` and a repeated grey channel."""
    size = spec.params.get("size")
    if size is not None and int(size) != native:
        x = resize_bilinear(x, int(size))
        meta["transform"] = f"bilinear {native}x{native} -> {int(size)}x{int(size)}"
    channels = int(spec.params.get("channels", 1))
    return np.repeat(x, channels, axis=1) if channels != 1 else x


class NpzSource:
    """A labelled ``.npz`` with arrays ``x`` (N, ...) and ``y`` (N,) integer class ids."""

    needs_path = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        path = spec.path
        if path is None or not Path(path).is_file():
            raise DatasetError(f"dataset {spec.name!r}: file {path} not found")
        try:
            verify(path, spec.sha256, f"dataset {spec.name!r} file")
        except ChecksumError as exc:
            raise DatasetError(str(exc)) from None
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in ("x", "y") if k not in z.files]
                if missing:
                    raise DatasetError(
                        f"dataset {spec.name!r}: {path} lacks array(s) {', '.join(missing)} "
                        f"(has {', '.join(z.files) or 'none'}); expected x (N, ...) and y (N,)"
                    )
                x, y = z["x"], z["y"]
        except DatasetError:
            raise
        except Exception as exc:  # a truncated or non-npz file: say so, never a traceback
            raise DatasetError(
                f"dataset {spec.name!r}: cannot read {path} as .npz ({type(exc).__name__}: {exc})"
            ) from None
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(
                f"dataset {spec.name!r}: y must be a 1-D integer array of class ids, got {y.dtype} {y.shape}"
            )
        x = x.astype(np.float32)
        scale = spec.params.get("scale")
        if scale is not None:
            x = x * float(scale)
        meta: dict[str, Any] = {"layout": "NCHW"}
        layout = str(spec.params.get("layout", "NCHW")).upper()
        if layout == "NHWC" and x.ndim == 4:  # samples travel as NCHW; each runner converts to its model's layout
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
            meta["stored_layout"] = "NHWC"
        elif layout not in ("NCHW", "NHWC", "NTC", "NC"):
            raise DatasetError(f"dataset {spec.name!r}: params.layout {layout!r}: expected NCHW, NHWC, NTC or NC")
        elif layout == "NTC":
            meta["layout"] = "NTC"
        classes = spec.params.get("num_classes")
        if classes is not None:
            if not isinstance(classes, int) or isinstance(classes, bool) or classes < 2:
                raise DatasetError(
                    f"dataset {spec.name!r}: params.num_classes must be a whole number >= 2, got {classes!r}"
                )
            outside = int(((y < 0) | (y >= classes)).sum())
            if outside:
                raise DatasetError(
                    f"dataset {spec.name!r}: {outside} label(s) in {path} lie outside [0, {classes}) "
                    f"(found {int(y.min())}..{int(y.max())}); fix the labels or params.num_classes"
                )
            meta["num_classes"] = classes
        elif len(y) and y.min() < 0:
            raise DatasetError(
                f"dataset {spec.name!r}: negative labels in {path} (min {int(y.min())}); class ids start at 0"
            )
        return x, y.astype(np.int64), meta
