"""``source: images``: folders of JPEG/PNG files, seeded sampling, content hash over names and bytes,
per-model preprocessing, streamed decoding, top-5 accuracy and VIPS with and without preprocessing."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

Image = pytest.importorskip("PIL.Image")

from pytest_aibench.core.model import DatasetSpec  # noqa: E402
from pytest_aibench.data import DatasetError, materialize  # noqa: E402
from pytest_aibench.data.images import Decoded, ImageFiles, ImagesSource, Preprocess, _labels_file, bind  # noqa: E402

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]


def tree(root: Path, per_class: int = 6, size: tuple[int, int] = (40, 48)) -> Path:
    """An ImageNet-style folder: one subfolder per class of noisy single-colour JPEGs (and one PNG)."""
    rng = np.random.default_rng(3)
    for c, colour in enumerate(COLOURS):
        d = root / f"n{c:08d}"
        d.mkdir(parents=True)
        for i in range(per_class):
            a = np.clip(np.array(colour) + rng.normal(0, 20, (*size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(d / (f"img{i}.png" if i == 0 else f"img{i}.JPEG"), quality=90)
    (root / "n00000000" / "notes.txt").write_text("not an image")
    return root


def spec(root: Path, **params) -> DatasetSpec:
    return DatasetSpec(name="img", source="images", path=root, eval_fraction=0.5, params=params)


def test_class_folders_are_labelled_in_sorted_order_sampled_by_seed_and_hashed_over_names_and_bytes(tmp_path):
    root = tree(tmp_path / "val")
    files, y, meta = ImagesSource().load(spec(root))
    assert len(files) == 36 and meta["num_classes"] == 6 and files.names[0] == "n00000000/img0.png"
    assert list(y[:6]) == [0] * 6 and list(y[-6:]) == [5] * 6  # notes.txt is not an image
    a, b, c = (ImagesSource().load(spec(root, samples=10, seed=s))[0].names for s in (1, 1, 2))
    assert a == b != c and len(a) == 10
    before = materialize(spec(root)).content_hash
    assert materialize(spec(root)).content_hash == before
    victim = root / "n00000003" / "img2.JPEG"
    data = bytearray(victim.read_bytes())
    data[-3] ^= 1
    victim.write_bytes(bytes(data))
    changed = materialize(spec(root)).content_hash
    assert changed != before
    victim.rename(root / "n00000003" / "img2b.JPEG")
    assert materialize(spec(root)).content_hash not in (before, changed)


def test_a_labels_file_names_the_images_and_its_errors_name_the_line(tmp_path):
    root = tree(tmp_path / "val", per_class=2)
    (root / "labels.txt").write_text("# file label\nn00000001/img1.JPEG 7\nn00000002/img1.JPEG, 3\n")
    files, y, meta = ImagesSource().load(spec(root, labels="labels.txt"))
    assert files.names == ("n00000001/img1.JPEG", "n00000002/img1.JPEG") and list(y) == [7, 3]
    assert meta["num_classes"] == 8
    (root / "labels.txt").write_text("n00000001/img1.JPEG seven\n")
    with pytest.raises(DatasetError, match=r"labels.txt:1: expected 'FILE LABEL'"):
        ImagesSource().load(spec(root, labels="labels.txt"))
    with pytest.raises(DatasetError, match="params.samples must be a non-negative integer, got 'ten'"):
        ImagesSource().load(spec(root, samples="ten"))
    with pytest.raises(DatasetError, match="unknown params colour"):
        ImagesSource().load(spec(root, colour=1))
    with pytest.raises(DatasetError, match="is not a folder"):
        ImagesSource().load(spec(root / "missing"))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.from_regex(r"[a-z]{1,8}\.png", fullmatch=True), st.integers(0, 999)),
        min_size=1,
        max_size=8,
        unique_by=lambda t: t[0],
    ),
    st.sampled_from([" ", ",", "\t", " , "]),
)
def test_labels_file_parser_round_trips(tmp_path_factory, rows, sep):
    root = tmp_path_factory.mktemp("labels")
    for name, _ in rows:
        (root / name).write_bytes(b"")
    (root / "l.txt").write_text("".join(f"{n}{sep}{label}  # a comment\n\n" for n, label in rows))
    names, ys, _ = _labels_file(root, root / "l.txt", (".png",))
    assert names == [n for n, _ in rows] and ys == [label for _, label in rows]


def test_preprocessing_resizes_the_shorter_side_crops_the_centre_and_orders_channels(tmp_path):
    a = np.zeros((40, 80, 3), np.uint8)
    a[..., 0], a[..., 2] = 255, 51  # red 255, blue 51
    a[:, 38:42, 1] = 255  # a green bar in the centre survives the centre crop
    img = Image.fromarray(a)
    t = Preprocess(resize=20, crop=(20, 20)).apply(img)
    assert t.shape == (3, 20, 20) and t.dtype == np.float32
    assert t[0].min() == pytest.approx(1.0) and t[1, :, 10].min() > 0.5 and t[1, :, 0].max() < 0.1
    bgr = Preprocess(
        resize=20, crop=(20, 20), channels="BGR", layout="NHWC", mean=(0.2, 0.0, 0.0), std=(0.5, 1.0, 1.0)
    ).apply(img)
    assert bgr.shape == (20, 20, 3) and bgr[0, 0, 0] == pytest.approx(0.0, abs=1e-6) and bgr[0, 0, 2] == 1.0
    q = Preprocess(resize=20, crop=(20, 20), dtype="int8", input_scale=1 / 255, input_zero_point=-128).apply(img)
    assert q.dtype == np.int8 and q[0, 0, 0] == 127 and q[2, 0, 0] == 51 - 128


def test_decoded_images_stream_one_batch_at_a_time_and_stack_on_demand(tmp_path):
    root = tree(tmp_path / "val")
    d = bind(materialize(spec(root)), None, (None, 3, 32, 32), "NCHW")
    assert isinstance(d.x_eval, Decoded) and d.x_eval.shape == (18, 3, 32, 32)
    sizes = [(len(b), s > 0) for b, s in d.x_eval.batches(5)]
    assert sizes == [(5, True), (5, True), (5, True), (3, True)]
    sub = d.x_eval[:4]
    assert isinstance(sub, Decoded) and np.asarray(sub).shape == (4, 3, 32, 32)
    assert np.array_equal(np.asarray(sub), next(d.x_eval.batches(4))[0])
    with pytest.raises(DatasetError, match="decoded for a model"):
        np.asarray(ImageFiles(root, ("n00000000/img1.JPEG",)))
    (root / "n00000000" / "img1.JPEG").write_bytes(b"not a jpeg")
    broken = bind(materialize(spec(root)), None, (None, 3, 32, 32), "NCHW")
    with pytest.raises(DatasetError, match="img1.JPEG: cannot decode"):
        np.asarray(broken.x_train), np.asarray(broken.x_eval)


def _colour_model(path: Path) -> str:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.array([[1, 0, 0, 1, 0, 1], [0, 1, 0, 1, 1, 0], [0, 0, 1, 0, 1, 1]], np.float32) * 4
    g = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "w", "b"], ["y"]),
        ],
        "colour",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 6])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(6, np.float32), "b")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_an_images_suite_reports_top5_and_vips_with_and_without_preprocessing(pytester):
    pytest.importorskip("onnxruntime")
    tree(pytester.path / "images")
    sha = _colour_model(pytester.path / "colour.onnx")
    pytester.makefile(
        ".yaml",
        suite=textwrap.dedent(f"""
        suite: folder
        version: "1"
        datasets:
          img: {{source: images, path: images, eval_fraction: 0.5}}
        models:
          colour: {{file: colour.onnx, sha256: {sha}, input: {{name: x, shape: [null, 3, 32, 32]}}}}
          swapped:
            file: colour.onnx
            sha256: {sha}
            input: {{name: x, shape: [null, 3, 32, 32]}}
            preprocess: {{resize: 40, crop: 32, channels: BGR}}
        frameworks: [onnxruntime]
        settings: {{latency_samples: 5, batch_size: 4}}
        """),
    )
    result = pytester.runpytest_subprocess(
        "--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "r.json"
    )
    result.assert_outcomes(passed=2)
    items = {it["model"]: it for it in json.loads((pytester.path / "r.json").read_text())["items"]}
    plain, swapped = items["colour"]["metrics"], items["swapped"]["metrics"]
    assert plain["accuracy"] > swapped["accuracy"]  # BGR swaps red and blue: those classes are then wrong
    assert 0 <= plain["accuracy"] <= plain["accuracy_top5"] <= 1
    assert plain["vips_with_preprocessing"] < plain["vips"] and plain["preprocess"]["ms_per_image"] > 0
    assert items["swapped"]["info"]["preprocess"]["channels"] == "BGR"
    n = plain["eval"]["samples"]  # all scored; the first batch of 4 decoded and run once, untimed
    assert (
        n > 4
        and items["colour"]["info"]["throughput_region"]
        == f"accuracy pass after its first batch: {n - 4} of {n} samples"
    )
    assert items["colour"]["dataset"]["source"] == "images" and len(items["colour"]["dataset"]["sha256"]) == 64


def test_a_bad_preprocess_key_is_one_clear_error_naming_the_line(pytester):
    pytester.makefile(
        ".yaml",
        suite=textwrap.dedent("""
        suite: folder
        version: "1"
        datasets:
          img: {source: images, path: images}
        models:
          m:
            file: m.onnx
            sha256: "0000000000000000000000000000000000000000000000000000000000000000"
            input: {shape: [null, 3, 32, 32], mean: 0.5}
            preprocess: {crop: 32, mean: [0.5, 0.5, 0.5], input_scale: 0.1}
        frameworks: [onnxruntime]
        """),
    )
    (pytester.path / "images").mkdir()
    result = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider")
    result.stderr.fnmatch_lines(
        [
            "*2 problems in 1 manifest*",
            "*suite.yaml:10: models.m.preprocess.input_scale*give dtype: int8 or uint8*",
            "*suite.yaml:10: models.m.preprocess.mean*apply twice*",
        ]
    )
    assert result.ret != 0
