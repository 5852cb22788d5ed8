"""Vision truth from disk, in the formats users have: COCO JSON beside an image folder (``source: coco``:
boxes, and keypoints where the categories name them) and class-mask PNGs beside images (``source: masks``).

Images stay files (:class:`~pytest_aibench.data.images.ImageFiles`), decoded a batch at a time at
measurement and stretched to the model's input; the truth stays in each image's own pixels and
predictions are mapped back to them, so COCO's evaluation sees the coordinates it would on the
originals. Masks are read one at a time when scored. Every defect in the files gets one error naming
the file, the entry and what was expected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError
from pytest_aibench.data.images import DECODERS, EXTENSIONS, ImageFiles, _inside, _pil
from pytest_aibench.data.targets import Targets
from pytest_aibench.files import sha256_file

#: a box may overhang its image by this many pixels (COCO's own annotations do, by rounding)
SLACK = 1.0


def _known(spec: DatasetSpec, keys: set[str], source: str) -> dict[str, Any]:
    unknown = sorted(set(spec.params) - keys)
    if unknown:
        raise DatasetError(
            f"dataset {spec.name!r}: unknown params {', '.join(unknown)} for source {source!r}; known: {', '.join(sorted(keys))}"
        )
    return dict(spec.params)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: not found; expected COCO annotations (images, annotations, categories)") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); expected a COCO annotation file"
        ) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text (byte {exc.start}); save the annotations as UTF-8 JSON") from None


def _need(entry: Any, key: str, kind: type | tuple[type, ...], where: str, expected: str) -> Any:
    if not isinstance(entry, dict) or key not in entry:
        raise DatasetError(f"{where}: missing key {key!r}; expected {expected}")
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise DatasetError(f"{where}.{key}: expected {expected}, got {value!r}")
    return value


class CocoSource:
    """``path:`` a folder with COCO annotations (``params.annotations``, default ``annotations.json``) and
    the images they name (under ``params.images``, default the folder itself). ``params.samples`` takes a
    seeded sample of the images. Categories with ``keypoints`` make it a pose dataset."""

    needs_path = True
    resizable = False

    def load(self, spec: DatasetSpec) -> tuple[Any, np.ndarray, dict[str, Any]]:
        p = _known(spec, {"annotations", "images", "samples", "seed"}, "coco")
        root = spec.path
        if root is None or not root.is_dir():
            raise DatasetError(f"dataset {spec.name!r}: path {root} is not a folder of COCO annotations and images")
        ann_path = root / str(p.get("annotations", "annotations.json"))
        _inside(ann_path, spec.confine, f"dataset {spec.name!r} params.annotations")
        image_root = root / str(p.get("images", "."))
        doc = _read_json(ann_path)
        if not isinstance(doc, dict):
            raise DatasetError(f"{ann_path}: expected a JSON object with images, annotations and categories")
        where = str(ann_path)
        images = _need(doc, "images", list, where, "a list of {id, file_name, width, height}")
        anns = _need(doc, "annotations", list, where, "a list of {image_id, category_id, bbox}")
        cats = _need(doc, "categories", list, where, "a list of {id, name}")
        cat_ids = [_need(c, "id", int, f"{where}: categories[{k}]", "an integer id") for k, c in enumerate(cats)]
        order = {cid: k for k, cid in enumerate(sorted(cat_ids))}
        names = tuple(str(c.get("name", c["id"])) for c in sorted(cats, key=lambda c: c["id"]))
        kp_names = next((tuple(c["keypoints"]) for c in cats if isinstance(c.get("keypoints"), list)), ())
        index, files, sizes = _images(images, image_root, spec, where)
        boxes, classes, areas, kps = _annotations(anns, index, files, sizes, order, kp_names, where)
        if len(files) < 2:
            raise DatasetError(f"{where}: {len(files)} image(s); a dataset needs at least 2")
        keep = np.arange(len(files))
        if p.get("samples") is not None and int(p["samples"]) < len(files):
            keep = np.sort(
                np.random.default_rng(int(p.get("seed", 0))).choice(len(files), int(p["samples"]), replace=False)
            )
        truth = Targets(
            size=(0, 0),
            categories=names,
            boxes=[np.asarray(boxes[i], np.float32).reshape(-1, 4) for i in keep],
            classes=[np.asarray(classes[i], np.int64) for i in keep],
            areas=[np.asarray(areas[i], np.float64) for i in keep],
            keypoints=[np.stack(kps[i]) if kps[i] else np.zeros((0, len(kp_names), 3), np.float32) for i in keep]
            if kp_names
            else None,
            keypoint_names=kp_names,
            image_sizes=np.asarray([sizes[i] for i in keep], np.int64),
            meta={"annotations": str(ann_path), "annotations_sha256": sha256_file(ann_path)},
        )
        x = ImageFiles(image_root, tuple(files[i] for i in keep))
        meta = {
            "num_classes": max(1, len(names)),
            "layout": "files",
            "targets": truth,
            "task": "pose" if kp_names else "detection",
            "images": len(x),
            "categories": list(names),
            "annotations": str(ann_path),
            "decoder": "Pillow",
        }
        return x, np.arange(len(x), dtype=np.int64), meta


def _images(
    images: list[Any], image_root: Path, spec: DatasetSpec, where: str
) -> tuple[dict[int, int], list[str], list[tuple[int, int]]]:
    """Each image entry checked (id, file name, size; the file exists inside the suite's folder)."""
    index: dict[int, int] = {}
    files: list[str] = []
    sizes: list[tuple[int, int]] = []
    for k, im in enumerate(images):
        at = f"{where}: images[{k}]"
        iid = _need(im, "id", int, at, "an integer id")
        name = _need(im, "file_name", str, at, "the image's file name")
        w, h = (
            _need(im, "width", int, at, "the width in pixels"),
            _need(im, "height", int, at, "the height in pixels"),
        )
        path = image_root / name
        _inside(path, spec.confine, f"{at}.file_name")
        if not path.is_file():
            raise DatasetError(f"{at}.file_name: {path} does not exist")
        index[iid] = len(files)
        files.append(str(path.relative_to(image_root)))
        sizes.append((h, w))
    return index, files, sizes


def _annotations(
    anns: list[Any],
    index: dict[int, int],
    files: list[str],
    sizes: list[tuple[int, int]],
    order: dict[int, int],
    kp_names: tuple[str, ...],
    where: str,
) -> tuple[list[list[Any]], list[list[int]], list[list[float]], list[list[Any]]]:
    """Each annotation checked against its image and the categories: boxes, classes, areas, keypoints."""
    boxes: list[list[Any]] = [[] for _ in files]
    classes: list[list[int]] = [[] for _ in files]
    areas: list[list[float]] = [[] for _ in files]
    kps: list[list[Any]] = [[] for _ in files]
    for k, a in enumerate(anns):
        at = f"{where}: annotations[{k}]"
        iid = _need(a, "image_id", int, at, "the id of an image in 'images'")
        if iid not in index:
            raise DatasetError(f"{at}.image_id: {iid} is not an image id in 'images'")
        cid = _need(a, "category_id", int, at, "the id of a category in 'categories'")
        if cid not in order:
            raise DatasetError(f"{at}.category_id: {cid} is not a category id (known: {sorted(order)})")
        if a.get("iscrowd"):
            continue  # crowd regions are ignored by COCO's matching; not scored as objects here
        box = _need(a, "bbox", list, at, "[x, y, width, height] in pixels")
        if len(box) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
            raise DatasetError(f"{at}.bbox: expected [x, y, width, height] (four numbers), got {box!r}")
        x, y, bw, bh = (float(v) for v in box)
        i = index[iid]
        h, w = sizes[i]
        if bw <= 0 or bh <= 0 or x < -SLACK or y < -SLACK or x + bw > w + SLACK or y + bh > h + SLACK:
            raise DatasetError(
                f"{at}.bbox: {box!r} lies outside its {w}x{h} image {files[i]} (or is empty); expected "
                "[x, y, width, height] with width, height > 0 inside the image; fix or drop the annotation"
            )
        boxes[i].append((x, y, bw, bh))
        classes[i].append(order[cid])
        areas[i].append(float(a.get("area", bw * bh)))
        if kp_names:
            kp = a.get("keypoints")
            if not isinstance(kp, list) or len(kp) != 3 * len(kp_names):
                raise DatasetError(
                    f"{at}.keypoints: expected {3 * len(kp_names)} numbers (x, y, v for {len(kp_names)} keypoints)"
                )
            kps[i].append(np.asarray(kp, np.float32).reshape(-1, 3))
    return boxes, classes, areas, kps


class LazyMasks:
    """Class-mask PNGs read when scored (one at a time: memory stays bounded), hashed by their bytes."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        with _pil().open(self.paths[i], formats=("PNG",)) as img:
            return np.asarray(img, dtype=np.uint8)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths),)

    def update_hash(self, h: Any) -> None:
        for p in self.paths:
            h.update(p.name.encode() + b"\0" + bytes.fromhex(sha256_file(p)))


class MasksSource:
    """``path:`` a folder with ``images/`` and ``masks/``: one PNG per image with the same stem, each pixel
    its class id (0 = background, 255 = void, not scored). ``params.classes``: the class names after
    background (their count is the label space)."""

    needs_path = True
    resizable = False

    def load(self, spec: DatasetSpec) -> tuple[Any, np.ndarray, dict[str, Any]]:
        p = _known(spec, {"classes", "images", "masks"}, "masks")
        root = spec.path
        if root is None or not root.is_dir():
            raise DatasetError(f"dataset {spec.name!r}: path {root} is not a folder with images/ and masks/")
        classes = p.get("classes")
        if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
            raise DatasetError(
                f"dataset {spec.name!r}: params.classes must list the class names after background, e.g. [road, car]"
            )
        image_dir, mask_dir = root / str(p.get("images", "images")), root / str(p.get("masks", "masks"))
        for d in (image_dir, mask_dir):
            _inside(d, spec.confine, f"dataset {spec.name!r} folder {d.name}")
            if not d.is_dir():
                raise DatasetError(f"dataset {spec.name!r}: {d} is not a folder; expected images/ and masks/ in {root}")
        names = sorted(f.name for f in image_dir.iterdir() if f.suffix.lower() in EXTENSIONS)
        pil = _pil()
        masks, sizes = [], []
        for name in names:
            mask = mask_dir / (Path(name).stem + ".png")
            if not mask.is_file():
                raise DatasetError(f"dataset {spec.name!r}: image {image_dir / name} has no mask {mask}")
            with pil.open(image_dir / name, formats=DECODERS) as im, pil.open(mask, formats=("PNG",)) as mk:
                if im.size != mk.size:
                    raise DatasetError(
                        f"mask {mask}: {mk.size[0]}x{mk.size[1]} pixels, but its image {image_dir / name} is "
                        f"{im.size[0]}x{im.size[1]}; a mask must have its image's size"
                    )
                if mk.mode not in ("L", "P"):
                    raise DatasetError(
                        f"mask {mask}: mode {mk.mode}; expected a single-channel PNG of class ids (L or P)"
                    )
                sizes.append((im.size[1], im.size[0]))
            masks.append(mask)
        if len(names) < 2:
            raise DatasetError(f"dataset {spec.name!r}: {len(names)} image(s) in {image_dir}; need at least 2")
        truth = Targets(size=(0, 0), categories=tuple(classes), image_sizes=np.asarray(sizes, np.int64))
        truth.masks = LazyMasks(masks)  # type: ignore[assignment]
        x = ImageFiles(image_dir, tuple(names))
        return (
            x,
            np.arange(len(x), dtype=np.int64),
            {
                "num_classes": 1 + len(classes),
                "layout": "files",
                "targets": truth,
                "task": "segmentation",
                "images": len(x),
                "decoder": "Pillow",
            },
        )
