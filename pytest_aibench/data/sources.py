"""Built-in dataset sources: the shipped digits, and a user's labelled ``.npz`` file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..files import ChecksumError, recorded_sums, shipped, verify
from ..manifest.model import DatasetSpec
from . import DatasetError


class DigitsSource:
    """scikit-learn's 1,797 labelled 8x8 digits (shipped copy), as float32 (N, 1, 8, 8) in [0, 1];
    ``params: {size: 32, channels: 3}`` upscales them (bilinear) and repeats the grey channel."""

    needs_path = False
    resizable = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        path = shipped("datasets/digits.npz")
        try:
            verify(path, recorded_sums(path.parent).get("digits.npz"), "dataset")
        except ChecksumError as exc:
            raise DatasetError(str(exc)) from None
        with np.load(path, allow_pickle=False) as z:
            x = z["x"].astype(np.float32)[:, None, :, :] / 16.0
            y = z["y"].astype(np.int64)
        meta: dict[str, Any] = {"num_classes": 10, "layout": "NCHW", "origin": "sklearn.datasets.load_digits"}
        size = spec.params.get("size")
        if size is not None and int(size) != 8:
            from .transforms import resize_bilinear  # noqa: PLC0415

            x = resize_bilinear(x, int(size))
            meta["transform"] = f"bilinear 8x8 -> {int(size)}x{int(size)}"
        channels = int(spec.params.get("channels", 1))
        if channels != 1:
            x = np.repeat(x, channels, axis=1)
        return x, y, meta


class ShapesSource:
    """Procedural coloured shapes and textures (see :mod:`pytest_aibench.data.procedural`).
    ``params: {samples: 3000, size: 32, classes: 10, seed: 0}``."""

    needs_path = False
    resizable = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        from .procedural import CLASSES, generate  # noqa: PLC0415

        p = spec.params
        try:
            count, size, classes, seed = int(p.get("samples", 3000)), int(p.get("size", 32)), \
                int(p.get("classes", 10)), int(p.get("seed", 0))
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"dataset {spec.name!r}: params must be integers ({exc})") from None
        try:
            x, y = generate(seed, count, size, classes)
        except ValueError as exc:
            raise DatasetError(f"dataset {spec.name!r}: {exc}") from None
        return x, y, {"num_classes": classes, "layout": "NCHW", "generator": "shapes", "seed": seed,
                      "classes": list(CLASSES[:classes]), "size": size}


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
                    raise DatasetError(f"dataset {spec.name!r}: {path} lacks array(s) {', '.join(missing)} "
                                       f"(has {', '.join(z.files) or 'none'}); expected x (N, ...) and y (N,)")
                x, y = z["x"], z["y"]
        except DatasetError:
            raise
        except Exception as exc:  # a truncated or non-npz file: say so, never a traceback
            raise DatasetError(f"dataset {spec.name!r}: cannot read {path} as .npz ({type(exc).__name__}: {exc})") from None
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(f"dataset {spec.name!r}: y must be a 1-D integer array of class ids, got {y.dtype} {y.shape}")
        x = x.astype(np.float32)
        scale = spec.params.get("scale")
        if scale is not None:
            x = x * float(scale)
        return x, y.astype(np.int64), {"layout": spec.params.get("layout", "NCHW")}


def _export_digits(target: str) -> None:
    from sklearn.datasets import load_digits  # noqa: PLC0415 - maintainers only

    d = load_digits()
    np.savez_compressed(target, x=d.images.astype(np.uint8), y=d.target.astype(np.int64))
    print(f"wrote {target}; update SHA256SUMS beside it (sha256sum digits.npz > SHA256SUMS)")


if __name__ == "__main__":  # pragma: no cover - maintainer tool
    if len(sys.argv) == 3 and sys.argv[1] == "--export-digits":
        _export_digits(sys.argv[2])
    else:
        sys.exit("usage: python -m pytest_aibench.data.sources --export-digits PATH")
