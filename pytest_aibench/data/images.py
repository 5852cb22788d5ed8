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

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError
from pytest_aibench.files import sha256_file

EXTENSIONS = (".jpg", ".jpeg", ".png")
#: the only decoders an image file reaches, whatever its name says: Pillow identifies a file by its bytes,
#: and some of its plugins hand files to external programs (EPS, PS and PDF to Ghostscript)
DECODERS = ("JPEG", "PNG", "BMP", "WEBP")
#: largest label a labels file may give (a label space larger than this is a typo)
MAX_LABEL = 1_000_000
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
        raise DatasetError(
            "images are decoded for a model, with its preprocessing: bind them first (pytest_aibench.data.images.bind)"
        )


def _name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as text; a name that is not UTF-8 is refused (it could not be recorded)."""
    rel = path.relative_to(root).as_posix()
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise DatasetError(
            f"{root}: file name {rel.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8; "
            "rename it (results record every file's name)"
        ) from None
    return rel


def _inside(path: Path, confine: Path | None, what: str) -> None:
    """Data stays inside the suite's folder: a symlink or a ``..`` that leaves it is refused."""
    if confine is not None and confine not in path.resolve().parents:
        raise DatasetError(
            f"{what} leads outside the suite's folder {confine} (to {path.resolve()}); set "
            "'allow_outside_paths: true' at the top level if that is intended"
        )


def _labels_file(
    root: Path, labels: Path, extensions: tuple[str, ...], confine: Path | None = None
) -> tuple[list[str], list[int], dict]:
    """``file label`` per line (whitespace or comma separated); '#' starts a comment."""
    try:
        text = labels.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DatasetError(
            f"params.labels: {labels} does not exist; expected a text file of 'FILE LABEL' lines in {root}"
        ) from None
    except IsADirectoryError:
        raise DatasetError(f"params.labels: {labels} is a folder; expected a text file of 'FILE LABEL' lines") from None
    except UnicodeDecodeError as exc:
        bad_line = labels.read_bytes()[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"{labels}:{bad_line}: not UTF-8 text (byte {exc.start}); save the labels file as UTF-8"
        ) from None
    except OSError as exc:
        raise DatasetError(f"params.labels: cannot read {labels}: {exc.strerror or exc}") from None
    names, ys = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 2 or not (parts[1].isascii() and parts[1].isdigit()) or int(parts[1]) > MAX_LABEL:
            raise DatasetError(
                f"{labels}:{lineno}: expected 'FILE LABEL' (LABEL a class id, an integer from 0 to "
                f"{MAX_LABEL}), got {line[:80]!r}"
            )
        name = Path(parts[0])
        if name.is_absolute() or ".." in name.parts:
            raise DatasetError(
                f"{labels}:{lineno}: {parts[0]!r} must be a path inside {root} (no absolute path, no '..')"
            )
        if not (root / name).is_file():
            raise DatasetError(f"{labels}:{lineno}: {root / name} does not exist")
        _inside(root / name, confine, f"{labels}:{lineno}: {parts[0]}")
        names.append(name.as_posix())
        ys.append(int(parts[1]))
    return names, ys, {"labels": labels.name}


def _visible(path: Path) -> bool:
    """Hidden entries (.ipynb_checkpoints, .DS_Store, dot-folders) are never data."""
    return not path.name.startswith(".") and path.name != "__MACOSX"


def _class_folders(root: Path, extensions: tuple[str, ...], confine: Path | None) -> tuple[list[str], list[int], dict]:
    """One subfolder per class, sorted by name: the i-th folder is class i (ImageNet's wnid order).
    Hidden folders are no class; an empty class folder is refused (dropping it would renumber the
    classes after it)."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and _visible(p))
    names, ys = [], []
    for label, cls in enumerate(classes):
        folder = root / cls
        _inside(folder, confine, f"class folder {folder}")
        files = [f for f in sorted(folder.iterdir()) if _visible(f) and f.is_file() and f.suffix.lower() in extensions]
        if not files:
            raise DatasetError(
                f"class folder {folder} holds no image with {', '.join(extensions)} extensions: remove it "
                f"(its class would have no sample, and dropping it would renumber the classes after it)"
            )
        for f in files:
            _inside(f, confine, f"image {f}")
            names.append(_name(f, root))
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
            raise DatasetError(
                f"dataset {spec.name!r}: path {root} is not a folder; source 'images' reads a folder of "
                "class subfolders (ImageNet's validation layout) or images with params.labels"
            )
        p = dict(spec.params)
        unknown = sorted(set(p) - {"labels", "samples", "seed", "num_classes", "extensions"})
        if unknown:
            raise DatasetError(
                f"dataset {spec.name!r}: unknown params {', '.join(unknown)} for source 'images'; "
                "known: labels, samples, seed, num_classes, extensions"
            )
        for key in ("samples", "seed", "num_classes"):
            if p.get(key) is not None and (not isinstance(p[key], int) or isinstance(p[key], bool) or p[key] < 0):
                raise DatasetError(
                    f"dataset {spec.name!r}: params.{key} must be a non-negative integer, got {p[key]!r}"
                )
        if not isinstance(p.get("extensions", []), list) or not all(
            isinstance(e, str) for e in p.get("extensions", [])
        ):
            raise DatasetError(
                f"dataset {spec.name!r}: params.extensions must be a list of suffixes, e.g. [.jpg, .png]"
            )
        extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in p.get("extensions", EXTENSIONS))
        if p.get("labels"):
            names, ys, meta = _labels_file(root, root / str(p["labels"]), extensions, spec.confine)
        else:
            names, ys, meta = _class_folders(root, extensions, spec.confine)
        if len(names) < 2:
            raise DatasetError(
                f"dataset {spec.name!r}: {root} holds {len(names)} images with {', '.join(extensions)} "
                "extensions; expected class subfolders of images (or params.labels)"
            )
        order = np.arange(len(names))
        if p.get("samples") is not None:
            n = int(p["samples"])
            if n < 2:
                raise DatasetError(f"dataset {spec.name!r}: params.samples must be at least 2, got {n}")
            if n >= len(names):  # more than there is: all of them, said in the item's flags
                meta["notes"] = [
                    f"dataset {spec.name!r}: params.samples {n} is more than the {len(names)} images in "
                    f"{root}: all {len(names)} are used"
                ]
            else:
                order = np.sort(np.random.default_rng(int(p.get("seed", 0))).choice(len(names), n, replace=False))
        y = np.asarray(ys, dtype=np.int64)[order]
        folders = len(meta["classes"]) if isinstance(meta.get("classes"), list) else len(set(ys))
        space = int(p.get("num_classes", folders if not p.get("labels") else int(y.max()) + 1))
        if space <= int(y.max()):
            raise DatasetError(
                f"dataset {spec.name!r}: params.num_classes {space} is below the largest label {y.max()}"
            )
        files = ImageFiles(root, tuple(names[i] for i in order))
        return (
            files,
            y,
            {
                **meta,
                "num_classes": space,
                "layout": "files",
                "images": len(files),
                "folder": str(root),
                "decoder": "Pillow",
            },
        )


@dataclass(frozen=True)
class Preprocess:
    """A model's preprocessing (the manifest's ``preprocess:``), AIoTBench's configuration keys."""

    resize: int | None = None  # shorter side to this many pixels (aspect kept), bilinear
    crop: tuple[int, int] | None = None  # centre crop (height, width); default the model's input size
    scale: float = 1 / 255  # pixel values (0..255) times this, before mean/std
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels: str = "RGB"  # or BGR (Caffe-trained models)
    layout: str = "NCHW"  # or NHWC
    dtype: str = "float32"  # float32, float16, uint8, int8
    input_scale: float | None = None  # quantized input: q = round(x / input_scale) + input_zero_point
    input_zero_point: int = 0
    #: resize to exactly ``crop`` (aspect not kept, nothing cut off): a dense task's truth maps back per axis
    stretch: bool = False

    def describe(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    def apply(self, image: Any) -> np.ndarray:
        """One PIL image to the model's tensor (C, H, W) or (H, W, C)."""
        img = to_rgb(image)
        if self.stretch and self.crop:
            img = img.resize((self.crop[1], self.crop[0]), _pil().Resampling.BILINEAR)
        elif self.resize:
            w, h = img.size
            k = self.resize / min(w, h)
            img = img.resize((max(1, round(w * k)), max(1, round(h * k))), _pil().Resampling.BILINEAR)
        if self.crop and not self.stretch:
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


#: Pillow's modes of more than 8 bits per sample, and the full scale of each
_DEEP = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}


def to_rgb(image: Any) -> Any:
    """8-bit RGB from any mode an allowed decoder gives: greyscale, palette, CMYK, YCbCr and 1-bit through
    Pillow's conversions; alpha (LA, RGBA, PA, palette transparency) dropped, as torchvision's loader does;
    16-bit greyscale scaled to 8 bits (Pillow's own conversion clips it at 255, turning a 16-bit image white).
    32-bit integer images are read as 16-bit (what PNG gives); float images have no agreed range: refused."""
    mode = image.mode
    if mode in _DEEP:
        a = np.asarray(image, dtype=np.float64) * (255.0 / _DEEP[mode])
        return _pil().fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if mode == "F":
        raise ValueError("a 32-bit float image has no agreed pixel range; save it as 8- or 16-bit PNG")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image if mode == "RGB" else image.convert("RGB")


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
                with image.open(path, formats=DECODERS) as img:  # never a decoder outside the allow-list
                    out[i] = self.pre.apply(img)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - corrupt, truncated, a bomb, another format: one message
                kind = (
                    "too many pixels (a decompression bomb?)"
                    if "DecompressionBomb" in type(exc).__name__
                    else f"{type(exc).__name__}: {exc}"
                )
                raise DatasetError(
                    f"image {path}: cannot decode as {', '.join(DECODERS)} ({kind}); remove or replace the file"
                ) from None
        return out

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, float]]:
        """(decoded batch, seconds decoding and preprocessing it), one batch in memory at a time."""
        names = self.files.names
        for i in range(0, len(names), size):
            t0 = time.perf_counter()
            batch = self.decode(names[i : i + size])
            yield batch, time.perf_counter() - t0

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.decode(self.files.names)
        return out if dtype is None else out.astype(dtype)


def default_preprocess(input_shape: tuple[Any, ...] | None, layout: str) -> Preprocess:
    """Without ``preprocess:``: resize the shorter side to the model's input size and centre-crop it, pixels
    in [0, 1], RGB, NCHW (the runner then applies the model's ``input:`` scale/mean/std/layout as usual)."""
    dims = list(input_shape or [])
    hw = (
        (dims[2], dims[3])
        if layout == "NCHW" and len(dims) == 4
        else (dims[1], dims[2])
        if len(dims) == 4
        else (None, None)
    )
    h, w = (
        (hw[0], hw[1]) if isinstance(hw[0], int) and isinstance(hw[1], int) else (224, 224)
    )  # dynamic: ImageNet's crop
    return Preprocess(resize=min(h, w), crop=(h, w))


def bind(dataset: Any, pre: Preprocess | None, input_shape: tuple[Any, ...] | None, input_layout: str) -> Any:
    """``dataset`` with its image files decoded through ``pre`` (or the default for the model's input);
    any other dataset unchanged. The crop defaults to the model's input height and width."""
    if not isinstance(dataset.x_eval, ImageFiles):
        return dataset
    fallback = default_preprocess(input_shape, input_layout)
    pre = fallback if pre is None else pre if pre.crop else replace(pre, crop=fallback.crop)
    if getattr(dataset, "targets", None) is not None:  # boxes, masks, keypoints: nothing may be cropped away
        pre = replace(pre, stretch=True, resize=None)
    return replace(
        dataset,
        x_train=Decoded(dataset.x_train, pre),
        x_eval=Decoded(dataset.x_eval, pre),
        layout=pre.layout,
        meta={**dataset.meta, "preprocess": pre.describe()},
    )
