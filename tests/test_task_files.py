"""Vision truth read from disk (COCO JSON beside images, mask PNGs beside images): what users have, and
one clear error for each way those files go wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, materialize
from pytest_aibench.data.coco_files import CocoSource

Image = pytest.importorskip("PIL.Image")


def _images(folder: Path, n: int, size: tuple[int, int] = (40, 30)) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        name = f"im{i}.png"
        Image.fromarray(np.full((size[1], size[0], 3), 40 * i % 255, np.uint8)).save(folder / name)
        names.append(name)
    return names


def _coco(folder: Path, n: int = 3, **change) -> Path:
    names = _images(folder, n)
    doc = {
        "images": [{"id": 10 + i, "file_name": nm, "width": 40, "height": 30} for i, nm in enumerate(names)],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "bbox": [1, 2, 10, 8], "area": 80, "iscrowd": 0},
            {"id": 2, "image_id": 11, "category_id": 3, "bbox": [20, 5, 15, 20], "area": 300, "iscrowd": 0},
        ],
        "categories": [{"id": 3, "name": "bolt"}, {"id": 7, "name": "nut"}],
    }
    doc.update(change)
    (folder / "annotations.json").write_text(json.dumps(doc, indent=1))
    return folder


def _spec(folder: Path, **params) -> DatasetSpec:
    return DatasetSpec(name="parts", source="coco", path=folder, eval_fraction=0.5, params=params)


def test_coco_folder_loads_boxes_in_each_images_own_pixels(tmp_path):
    d = materialize(_spec(_coco(tmp_path)))
    t = d.targets
    assert d.task == "detection" and t.categories == ("bolt", "nut")
    ids = {int(i) for i in d.y_eval} | {int(i) for i in d.y_train}
    assert ids == {0, 1, 2}
    assert t.image_sizes.tolist() == [[30, 40]] * 3
    assert t.boxes[0].tolist() == [[1, 2, 10, 8]] and t.classes[0].tolist() == [1]  # category 7 is the 2nd
    assert t.classes[1].tolist() == [0] and len(t.boxes[2]) == 0
    assert len(d.content_hash) == 64


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"annotations": [{"image_id": 10, "category_id": 3, "bbox": [30, 2, 20, 8]}]}, "lies outside its 40x30 image"),
        (
            {"annotations": [{"image_id": 10, "category_id": 9, "bbox": [1, 1, 2, 2]}]},
            "category_id: 9 is not a category id",
        ),
        (
            {"annotations": [{"image_id": 99, "category_id": 3, "bbox": [1, 1, 2, 2]}]},
            "image_id: 99 is not an image id",
        ),
        (
            {"annotations": [{"image_id": 10, "category_id": 3, "bbox": [1, 1, 2]}]},
            "bbox: expected [x, y, width, height]",
        ),
        ({"annotations": [{"image_id": 10, "category_id": 3}]}, "missing key 'bbox'"),
        ({"images": [{"id": 1, "file_name": "gone.png", "width": 4, "height": 4}]}, "gone.png does not exist"),
        ({"categories": "nut"}, "categories: expected a list of {id, name}"),
    ],
)
def test_bad_coco_annotations_name_file_entry_and_expectation(tmp_path, change, expected):
    _coco(tmp_path, **change)
    with pytest.raises(DatasetError) as err:
        materialize(_spec(tmp_path))
    assert expected in str(err.value) and "annotations.json" in str(err.value)


def test_malformed_coco_json_names_line_and_column(tmp_path):
    _images(tmp_path, 2)
    (tmp_path / "annotations.json").write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(DatasetError, match=r"annotations.json:2:\d+: not valid JSON"):
        materialize(_spec(tmp_path))


def test_masks_of_the_wrong_size_are_refused(tmp_path):
    _images(tmp_path / "images", 2)
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(tmp_path / "masks" / "im0.png")
    Image.fromarray(np.zeros((31, 40), np.uint8)).save(tmp_path / "masks" / "im1.png")
    spec = DatasetSpec(name="seg", source="masks", path=tmp_path, params={"classes": ["road"]})
    with pytest.raises(DatasetError, match=r"mask .*im1.png: 40x31 pixels, but its image .*im1.png is 40x30"):
        materialize(spec)


def test_masks_load_lazily_and_score(tmp_path):
    from pytest_aibench.tasks import TASKS

    _images(tmp_path / "images", 4)
    (tmp_path / "masks").mkdir()
    for i in range(4):
        m = np.zeros((30, 40), np.uint8)
        m[5:15, 5 + i : 20 + i] = 1
        Image.fromarray(m).save(tmp_path / "masks" / f"im{i}.png")
    d = materialize(
        DatasetSpec(name="seg", source="masks", path=tmp_path, eval_fraction=0.5, params={"classes": ["road"]})
    )
    assert d.task == "segmentation"
    perfect = [d.targets.masks[int(i)] for i in d.y_eval]
    got = TASKS.get("segmentation").score(perfect, d.y_eval, d)
    assert got["segmentation.miou"] == 1.0


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 50) | st.floats(-5, 50, allow_nan=False) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["id", "image_id", "category_id", "bbox", "file_name", "width", "height", "keypoints", "iscrowd"]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(st.sampled_from(["images", "annotations", "categories"]), _json_values, max_size=3))
def test_any_coco_document_loads_or_fails_with_one_dataset_error(tmp_path_factory, doc):
    folder = tmp_path_factory.mktemp("coco")
    _images(folder, 2)
    (folder / "annotations.json").write_text(json.dumps(doc))
    try:
        CocoSource().load(_spec(folder))
    except DatasetError as exc:
        assert "annotations.json" in str(exc) or "image" in str(exc)
