"""``python -m pytest_aibench.builder.datasets --export-digits|--export-lfw PATH``: regenerate the shipped
dataset copies (fixtures/datasets/README.md says what each holds and where it comes from).

The suites never import scikit-learn or scikit-image: they read the copies, checked by sha256. Only this
maintainers' tool needs them (the ``build`` extra)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np


def digits() -> dict[str, np.ndarray]:
    """scikit-learn's ``load_digits()``: 1,797 8x8 images in 0..16 as uint8, labels as int64."""
    bunch = importlib.import_module("sklearn.datasets").load_digits()
    return {"x": bunch.images.astype(np.uint8), "y": bunch.target.astype(np.int64)}


def lfw() -> dict[str, np.ndarray]:
    """scikit-image's ``lfw_subset()``: 100 faces (label 1) then 100 non-faces (label 0), float32."""
    x = importlib.import_module("skimage.data").lfw_subset().astype(np.float32)
    return {"x": x, "y": np.array([1] * 100 + [0] * (len(x) - 100), dtype=np.int64)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_aibench.builder.datasets", description=__doc__)
    parser.add_argument("--export-digits", type=Path, metavar="PATH", help="write digits.npz here")
    parser.add_argument("--export-lfw", type=Path, metavar="PATH", help="write lfw_subset.npz here")
    args = parser.parse_args(argv)
    if not (args.export_digits or args.export_lfw):
        parser.error("nothing to do: pass --export-digits PATH and/or --export-lfw PATH")
    for path, make in ((args.export_digits, digits), (args.export_lfw, lfw)):
        if path is None:
            continue
        try:
            arrays = make()
        except ImportError as exc:
            parser.error(f"{exc.name} is needed to regenerate {path.name}: pip install -e '.[build]'")
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        print(f"wrote {path} ({len(arrays['y'])} samples); update SHA256SUMS beside it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
