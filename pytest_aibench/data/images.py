"""``source: images``: a folder of JPEG/PNG files (ImageNet's validation layout, or a labels file),
decoded with Pillow a batch at a time, preprocessed the way each model declares.

Loading lists files only: :class:`ImageFiles` is a lazy vector of paths, split and sampled by seed
like any dataset, and fingerprinted over relative names and bytes. At measurement the model's
preprocessing binds it into :class:`Decoded`, whose batches are decoded when iterated, so memory is
bounded by one batch (the single paradigm streams; others that need every sample at once get them
through ``numpy.asarray``).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench.data import DatasetError
from pytest_aibench.files import sha256_file
from pytest_aibench.manifest.model import DatasetSpec

EXTENSIONS = (".jpg", ".jpeg", ".png")
INSTALL_HINT = "pip install 'pytest-aibench[images]' (Pillow decodes the image files)"


def _pil() -> Any:
    try:
        return importlib.import_module("PIL.Image")
    except ImportError as exc:
        raise DatasetError(f"the images dataset source needs Pillow ({exc}); {INSTALL_HINT}") from None


class ImageFiles:
    """Image files under ``root`` (relative names, sorted), indexable like an array of samples."""

    ndim = 1
    dtype = np.dtype(object)

    def __init__(self, root: Path, names: tuple[str, ...]):
        self.root, self.names = root, names

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.names),)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: Any) -> ImageFiles:
        picked = np.asarray(self.names, dtype=object)[index]
        return ImageFiles(self.root, tuple(picked) if np.ndim(picked) else (str(picked),))

    def update_hash(self, h: Any) -> None:
        """Names and bytes of every file, in order (what :func:`pytest_aibench.data.fingerprint` calls)."""
        for name in self.names:
            h.update(name.encode() + b"\0" + bytes.fromhex(sha256_file(self.root / name)))

    def __array__(self, *_: Any, **__: Any) -> np.ndarray:
        raise DatasetError("images are decoded for a model, with its preprocessing: bind them first "
                           "(pytest_aibench.data.images.bind)")


def _labels_file(root: Path, labels: Path, extensions: tuple[str, ...]) -> tuple[list[str], list[int], dict]:
    """``file label`` per line (whitespace or comma separated); '#' starts a comment."""
    names, ys = [], []
    for lineno, line in enumerate(labels.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise DatasetError(f"{labels}:{lineno}: expected 'FILE LABEL' (LABEL a class id, an integer from 0), got {line!r}")
        if not (root / parts[0]).is_file():
            raise DatasetError(f"{labels}:{lineno}: {root / parts[0]} does not exist")
        names.append(parts[0])
        ys.append(int(parts[1]))
    return names, ys, {"labels": labels.name}


def _class_folders(root: Path, extensions: tuple[str, ...]) -> tuple[list[str], list[int], dict]:
    """One subfolder per class, sorted by name: the i-th folder is class i (ImageNet's wnid order)."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    names, ys = [], []
    for label, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()):
            if f.is_file() and f.suffix.lower() in extensions:
                names.append(f"{cls}/{f.name}")
                ys.append(label)
    return names, ys, {"classes": classes if len(classes) <= 20 else f"{len(classes)} folders"}


class ImagesSource:
    """``path:`` a folder of class subfolders, or of images named by ``params.labels`` (a file of
    ``FILE LABEL`` lines, relative to the folder). ``params``: ``samples`` (a seeded sample of that
    many files; default all), ``seed``, ``num_classes`` (the label space; default the folders' count
    or the largest label + 1), ``extensions``."""

    needs_path = True
    resizable = False

    def load(self, spec: DatasetSpec) -> tuple[Any, np.ndarray, dict[str, Any]]:
        root = spec.path
        if root is None or not root.is_dir():
            raise DatasetError(f"dataset {spec.name!r}: path {root} is not a folder; source 'images' reads a folder of "
                               "class subfolders (ImageNet's validation layout) or images with params.labels")
        p = dict(spec.params)
        unknown = sorted(set(p) - {"labels", "samples", "seed", "num_classes", "extensions"})
        if unknown:
            raise DatasetError(f"dataset {spec.name!r}: unknown params {', '.join(unknown)} for source 'images'; "
                               "known: labels, samples, seed, num_classes, extensions")
        for key in ("samples", "seed", "num_classes"):
            if p.get(key) is not None and (not isinstance(p[key], int) or isinstance(p[key], bool) or p[key] < 0):
                raise DatasetError(f"dataset {spec.name!r}: params.{key} must be a non-negative integer, got {p[key]!r}")
        if not isinstance(p.get("extensions", []), list) or not all(isinstance(e, str) for e in p.get("extensions", [])):
            raise DatasetError(f"dataset {spec.name!r}: params.extensions must be a list of suffixes, e.g. [.jpg, .png]")
        extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in p.get("extensions", EXTENSIONS))
        if p.get("labels"):
            names, ys, meta = _labels_file(root, root / str(p["labels"]), extensions)
        else:
            names, ys, meta = _class_folders(root, extensions)
        if len(names) < 2:
            raise DatasetError(f"dataset {spec.name!r}: {root} holds {len(names)} images with {', '.join(extensions)} "
                               "extensions; expected class subfolders of images (or params.labels)")
        order = np.arange(len(names))
        if p.get("samples") is not None:
            n = int(p["samples"])
            if not 2 <= n <= len(names):
                raise DatasetError(f"dataset {spec.name!r}: params.samples must be within 2..{len(names)}, got {n}")
            order = np.sort(np.random.default_rng(int(p.get("seed", 0))).choice(len(names), n, replace=False))
        y = np.asarray(ys, dtype=np.int64)[order]
        space = int(p.get("num_classes", len(meta.get("classes", ())) if not p.get("labels") else int(y.max()) + 1))
        if space <= int(y.max()):
            raise DatasetError(f"dataset {spec.name!r}: params.num_classes {space} is below the largest label {y.max()}")
        files = ImageFiles(root, tuple(names[i] for i in order))
        return files, y, {**meta, "num_classes": space, "layout": "files", "images": len(files),
                          "folder": str(root), "decoder": "Pillow"}


@dataclass(frozen=True)
class Preprocess:
    """A model's preprocessing (the manifest's ``preprocess:``), AIoTBench's configuration keys."""

    resize: int | None = None            # shorter side to this many pixels (aspect kept), bilinear
    crop: tuple[int, int] | None = None  # centre crop (height, width); default the model's input size
    scale: float = 1 / 255               # pixel values (0..255) times this, before mean/std
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels: str = "RGB"                # or BGR (Caffe-trained models)
    layout: str = "NCHW"                 # or NHWC
    dtype: str = "float32"               # float32, float16, uint8, int8
    input_scale: float | None = None     # quantized input: q = round(x / input_scale) + input_zero_point
    input_zero_point: int = 0

    def describe(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    def apply(self, image: Any) -> np.ndarray:
        """One PIL image to the model's tensor (C, H, W) or (H, W, C)."""
        img = image.convert("RGB")
        if self.resize:
            w, h = img.size
            k = self.resize / min(w, h)
            img = img.resize((max(1, round(w * k)), max(1, round(h * k))), _pil().Resampling.BILINEAR)
        if self.crop:
            ch, cw = self.crop
            w, h = img.size
            if ch > h or cw > w:
                img = img.resize((max(cw, w), max(ch, h)), _pil().Resampling.BILINEAR)
                w, h = img.size
            left, top = (w - cw) // 2, (h - ch) // 2
            img = img.crop((left, top, left + cw, top + ch))
        a = np.asarray(img, dtype=np.float32) * np.float32(self.scale)
        if self.channels == "BGR":
            a = a[..., ::-1]
        if self.mean is not None:
            a = a - np.asarray(self.mean, np.float32)
        if self.std is not None:
            a = a / np.asarray(self.std, np.float32)
        if self.layout == "NCHW":
            a = a.transpose(2, 0, 1)
        if self.input_scale:
            a = np.round(a / self.input_scale) + self.input_zero_point
            info = np.iinfo(self.dtype)
            a = np.clip(a, info.min, info.max)
        return np.ascontiguousarray(a, dtype=self.dtype)


class Decoded:
    """:class:`ImageFiles` bound to a preprocessing: slices stay lazy, batches decode when iterated."""

    ndim = 4

    def __init__(self, files: ImageFiles, pre: Preprocess):
        self.files, self.pre = files, pre
        assert pre.crop is not None, "a bound preprocessing has a crop: the tensors must stack"
        h, w = pre.crop
        self.shape = (len(files), 3, h, w) if pre.layout == "NCHW" else (len(files), h, w, 3)
        self.dtype = np.dtype(pre.dtype)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            return self.decode([self.files.names[index]])[0]
        return Decoded(self.files[index], self.pre)

    def decode(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        image = _pil()
        out = np.empty((len(names), *self.shape[1:]), dtype=self.dtype)
        for i, name in enumerate(names):
            path = self.files.root / name
            try:
                with image.open(path) as img:
                    out[i] = self.pre.apply(img)
            except (OSError, ValueError) as exc:
                raise DatasetError(f"image {path}: cannot decode ({exc}); remove or replace the file") from None
        return out

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, float]]:
        """(decoded batch, seconds decoding and preprocessing it), one batch in memory at a time."""
        names = self.files.names
        for i in range(0, len(names), size):
            t0 = time.perf_counter()
            batch = self.decode(names[i:i + size])
            yield batch, time.perf_counter() - t0

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.decode(self.files.names)
        return out if dtype is None else out.astype(dtype)


def default_preprocess(input_shape: tuple[Any, ...] | None, layout: str) -> Preprocess:
    """Without ``preprocess:``: resize the shorter side to the model's input size and centre-crop it, pixels
    in [0, 1], RGB, NCHW (the runner then applies the model's ``input:`` scale/mean/std/layout as usual)."""
    dims = list(input_shape or [])
    hw = (dims[2], dims[3]) if layout == "NCHW" and len(dims) == 4 else (dims[1], dims[2]) if len(dims) == 4 else (None, None)
    h, w = (hw[0], hw[1]) if isinstance(hw[0], int) and isinstance(hw[1], int) else (224, 224)  # dynamic: ImageNet's crop
    return Preprocess(resize=min(h, w), crop=(h, w))


def bind(dataset: Any, pre: Preprocess | None, input_shape: tuple[Any, ...] | None, input_layout: str) -> Any:
    """``dataset`` with its image files decoded through ``pre`` (or the default for the model's input);
    any other dataset unchanged. The crop defaults to the model's input height and width."""
    if not isinstance(dataset.x_eval, ImageFiles):
        return dataset
    fallback = default_preprocess(input_shape, input_layout)
    pre = fallback if pre is None else pre if pre.crop else replace(pre, crop=fallback.crop)
    return replace(dataset, x_train=Decoded(dataset.x_train, pre), x_eval=Decoded(dataset.x_eval, pre),
                   layout=pre.layout, meta={**dataset.meta, "preprocess": pre.describe()})
