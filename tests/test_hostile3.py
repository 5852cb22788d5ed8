"""Hostile and mistaken input, third round: no code from data by any route, no run that ends green after
user code ended the process, no simulated loop without a bound, no wrong number from an odd image, data
kept inside the suite's folder, a gate that never silently compares nothing, a cache the lock pins."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import manifest
from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError
from pytest_aibench.errors import ArtifactError
from pytest_aibench.judge.catalogue import known_metric_names
from pytest_aibench.judge.compare import RuleError, parse_rules
from pytest_aibench.manifest.loader import ManifestError, load
from pytest_aibench.paradigms.stages import stage
from pytest_aibench.sim.links import Channel, Link

TORCH_SUITE = """\
suite: p
version: "1"
datasets:
  digits: {source: digits, split_seed: 0}
models:
  large: {zoo: tinycnn-digits}
frameworks: [torch]
quantizations: [fp32]
paradigms: [PARADIGM]
topologies:
  net: {edge: rpi4, cloud: cloud, edges: 2, uplink: {outages: OUTAGES}, downlink: {outages: OUTAGES}}
params:
  PARADIGM: PARAMS
metrics: [accuracy, collaborative, training]
settings: {eval_samples: 100, batch_size: 64}
"""


def _suite(root: Path, paradigm: str, params: str, outages: str = "[]", extra: str = "") -> Path:
    path = root / "suite.yaml"
    path.write_text(
        TORCH_SUITE.replace("PARADIGM", paradigm).replace("PARAMS", params).replace("OUTAGES", outages) + extra
    )
    return path


def _problems(path: Path, **kw: object) -> str:
    with pytest.raises(ManifestError) as info:
        load(path, lambda name: True, **kw)  # type: ignore[arg-type]
    return info.value.report()


# -- 1. no code from data, by any route ---------------------------------------------------------------
def test_stage_code_is_refused_by_every_route_a_manifest_has(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        "joint_inference",
        "{rule: 'os:system'}",
        extra=(
            "grid:\n  params: {aggregation: [fedavg, 'os:abort']}\n"
            "matrix:\n  include:\n    - {model: large, hard_example_mining: 'subprocess:run'}\n"
        ),
    )
    report = _problems(path)
    for key, spec in (
        ("params.joint_inference.rule", "os:system"),
        ("grid.params.aggregation.1", "os:abort"),
        ("matrix.include.0.hard_example_mining", "subprocess:run"),
    ):
        assert "suite.yaml:" in report and f"{key}: stage '{spec}': module" in report, report
    assert "is not a file in the manifest's folder" in report


def test_the_loading_door_refuses_code_that_validation_never_saw(tmp_path: Path) -> None:
    suite = SimpleNamespace(root=tmp_path, trusted_modules=())
    with pytest.raises(ArtifactError, match="stage 'os:getcwd': module 'os' is not a file in the manifest's folder"):
        stage("aggregation", {"aggregation": "os:getcwd"}, suite)
    (tmp_path / "mine.py").write_text("def agg(updates, template):\n    return template\n")
    assert stage("aggregation", {"aggregation": "mine:agg"}, suite)[0] == "mine:agg"
    trusted = SimpleNamespace(root=tmp_path, trusted_modules=("os",))
    assert stage("hard_example_mining", {"hard_example_mining": "os:getcwd"}, trusted)[0] == "os:getcwd"


def test_a_run_that_takes_no_code_refuses_a_manifest_that_trusts_some(tmp_path: Path) -> None:
    path = _suite(tmp_path, "federated_learning", "{aggregation: 'os:abort'}", extra="trusted_modules: [os]\n")
    load(path, lambda name: True)  # its own checkout may trust what it likes
    report = _problems(path, code=False)  # a bundle's manifest may not
    assert "params.federated_learning.aggregation: stage 'os:abort' names code, and this run takes none" in report


# -- 2. user code that ends the process never ends the run green ----------------------------------------
ENDINGS = """
import os, signal
import torch


def exits(updates, template):
    os._exit(0)


def killed(updates, template):
    os.kill(os.getpid(), signal.SIGKILL)


def nan(updates, template):
    return {k: torch.full_like(v.float(), float("nan")).to(v.dtype) for k, v in template.items()}


def wrong(updates, template):
    return [1, 2, 3]
"""


@pytest.mark.slow
def test_a_stage_that_ends_the_process_or_returns_nonsense_fails_its_item_only(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("simpy")
    root = Path(pytester.path)
    (root / "algos.py").write_text(ENDINGS)
    _suite(
        root,
        "federated_learning",
        "{clients: 2, rounds: 1}",
        extra=("grid:\n  params: {aggregation: ['algos:exits', 'algos:killed', 'algos:nan', 'algos:wrong', fedavg]}\n"),
    )
    result = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json", timeout=600)
    result.assert_outcomes(passed=1, failed=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random(
        [
            "*its isolated process exited with code 0 before sending a result*",
            "*killed by SIGKILL*",
            "*stage aggregation 'algos:nan' returned NaN/inf weights*",
            "*stage aggregation 'algos:wrong' returned list [[]1, 2, 3[]]; expected a state dict*",
        ]
    )
    items = json.loads((root / "r.json").read_text())["items"]
    good = [i for i in items if i["outcome"] == "passed"]
    assert good[0]["metrics"]["accuracy"] > 0 and "isolated" not in good[0]["runner"]  # built-in: measured here


# -- 3. nothing hangs ------------------------------------------------------------------------------------
def test_retries_through_an_outage_of_any_length_take_one_step() -> None:
    ch = Channel(Link(outages=((0.0, 1e11),)), np.random.default_rng(0))
    assert ch.transfer_waiting(1000, 0.0, retry_s=1e-3) >= 1e11
    assert ch.transfer_waiting(1000, 0.0) >= 1e11


@pytest.mark.parametrize(
    "params,message",
    [
        ("{retry_s: 0}", "params.retry_s: expected a number of simulated seconds above 0"),
        ("{retry_s: -1}", "params.retry_s: expected a number of simulated seconds above 0"),
        ("{rounds: 100000000}", "params.rounds: expected a whole number from 1 to 10000"),
    ],
)
def test_loops_that_would_never_end_are_one_line_errors(pytester: pytest.Pytester, params: str, message: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("simpy")
    _suite(Path(pytester.path), "federated_learning", params)
    result = pytester.runpytest("--aibench", "suite.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*{message}*"])


def test_an_endless_outage_under_a_huge_deadline_is_a_bounded_result(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("simpy")
    _suite(
        Path(pytester.path),
        "federated_learning",
        "{clients: 2, rounds: 2, deadline_s: 1e12, retry_s: 0.5}",
        outages="[[0.0, 1.0e+12]]",
    )
    result = pytester.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json")
    result.assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "r.json").read_text())["items"]
    assert item["metrics"]["fl"]["sim_time_s"] >= 1e12 and item["metrics"]["fl"]["retries"] >= 2e12


# -- 4, 7. numbers from odd images, and bounds ---------------------------------------------------------
Image = pytest.importorskip("PIL.Image")


def _tree(root: Path, save: object = None, classes: int = 2, per: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per):
            a = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            (save or (lambda a, p: Image.fromarray(a).save(p)))(a, root / f"c{c}" / f"i{i}.png")
    return root


def _load(root: Path, confine: Path | None = None, **params: object) -> tuple:
    from pytest_aibench.data.images import ImagesSource

    return ImagesSource().load(DatasetSpec("d", "images", root, params=dict(params), confine=confine))


def _decode(path: Path) -> np.ndarray:
    from pytest_aibench.data.images import Decoded, ImageFiles, Preprocess

    return Decoded(ImageFiles(path.parent, (path.name,)), Preprocess(crop=(12, 16))).decode([path.name])[0]


@pytest.mark.parametrize("mode", ["I;16", "P", "P+transparency", "CMYK", "LA", "RGBA", "L", "1"])
def test_every_image_mode_decodes_like_its_8_bit_rgb_copy(tmp_path: Path, mode: str) -> None:
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (12, 16), dtype=np.uint8)
    if mode == "I;16":
        Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "x.png")
        want = Image.fromarray(grey).convert("RGB")
    else:
        rgb = Image.fromarray(np.stack([grey, grey[::-1], 255 - grey], -1))
        img = rgb.convert("L") if mode in ("L", "LA", "1") else rgb.quantize(16) if mode.startswith("P") else rgb
        img = img.convert(mode) if not mode.startswith("P") else img
        want = img.convert("RGB")
        img.save(
            tmp_path / ("x.jpg" if mode == "CMYK" else "x.png"),
            **({"transparency": 0} if mode == "P+transparency" else {}),
        )
        if mode == "CMYK":  # the lossy round trip is the file's own: compare with what Pillow reads back
            want = Image.open(tmp_path / "x.jpg").convert("RGB")
    got = _decode(tmp_path / ("x.jpg" if mode == "CMYK" else "x.png"))
    np.testing.assert_allclose(got, np.asarray(want, np.float32).transpose(2, 0, 1) / 255, atol=1 / 255 + 1e-6)


def test_an_eps_file_under_any_name_never_reaches_an_external_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "gs").write_text(f"#!/bin/sh\ntouch {tmp_path}/called\n")
    (tmp_path / "bin" / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    (tmp_path / "a.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    with pytest.raises(DatasetError, match=r"a.jpg: cannot decode as JPEG, PNG, BMP, WEBP"):
        _decode(tmp_path / "a.jpg")
    assert not (tmp_path / "called").exists()


def test_a_decompression_bomb_is_one_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DatasetError, match="big.png: cannot decode .*decompression bomb"):
        _decode(tmp_path / "big.png")


def test_hidden_folders_are_no_class_and_an_empty_class_folder_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    (root / ".ipynb_checkpoints").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / ".ipynb_checkpoints" / "x.png")
    (root / "c0" / ".hidden.png").write_bytes((root / "c0" / "i0.png").read_bytes())
    files, y, meta = _load(root)
    assert meta["classes"] == ["c0", "c1"] and len(files) == 6 and meta["num_classes"] == 2
    (root / "c2").mkdir()
    with pytest.raises(DatasetError, match=r"class folder .*c2 holds no image"):
        _load(root)


def test_data_that_a_symlink_takes_outside_the_suite_is_refused(tmp_path: Path) -> None:
    outside = _tree(tmp_path / "outside")
    suite = tmp_path / "suite"
    root = _tree(suite / "d")
    (root / "c9").symlink_to(outside / "c0")
    with pytest.raises(DatasetError, match="leads outside the suite's folder"):
        _load(root, confine=suite.resolve())
    (root / "c9").unlink()
    (root / "c1" / "x.png").symlink_to(outside / "c1" / "i0.png")
    with pytest.raises(DatasetError, match=r"image .*x.png leads outside"):
        _load(root, confine=suite.resolve())
    assert len(_load(root)[0]) == 7  # allow_outside_paths: true (no confinement)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"c0/i0.png 1\n../outside.png 0\n", r"labels.txt:2: '../outside.png' must be a path inside"),
        (b"/etc/passwd 0\n", r"labels.txt:1: '/etc/passwd' must be a path inside"),
        (b"c0/i0.png 99999999999999999999999\n", r"labels.txt:1: expected 'FILE LABEL'"),
        (b"c0/i0.png one\n", r"labels.txt:1: expected 'FILE LABEL'"),
        (b"c0/i0.png 1\nc0/i1.png \xff\xfe\n", r"labels.txt:2: not UTF-8 text"),
    ],
)
def test_bad_labels_files_are_one_message_naming_file_and_line(tmp_path: Path, content: bytes, message: str) -> None:
    root = _tree(tmp_path / "d")
    (root / "labels.txt").write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        _load(root, labels="labels.txt")


def test_a_labels_folder_or_missing_file_and_odd_file_names_are_named(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    (root / "lab").mkdir()
    with pytest.raises(DatasetError, match="lab is a folder"):
        _load(root, labels="lab")
    with pytest.raises(DatasetError, match="nope.txt does not exist"):
        _load(root, labels="nope.txt")
    (root / "c0" / os.fsdecode(b"bad\xff.png")).write_bytes((root / "c0" / "i0.png").read_bytes())
    with pytest.raises(DatasetError, match="is not valid UTF-8"):
        _load(root)


def test_sampling_more_than_there_is_uses_all_and_says_so(tmp_path: Path) -> None:
    files, _, meta = _load(_tree(tmp_path / "d"), samples=5000)
    assert len(files) == 6 and "params.samples 5000 is more than the 6 images" in meta["notes"][0]


def _manifest_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return path


PRE = """\
suite: pre
version: "1"
datasets:
  d: {source: images, path: d}
models:
  m:
    file: m.onnx
    sha256: "0000000000000000000000000000000000000000000000000000000000000000"
    input: INPUT
    preprocess: PRE
frameworks: [onnxruntime]
"""


@pytest.mark.parametrize(
    "pre,inp,message",
    [
        (
            "{dtype: uint8, scale: 0.00392}",
            "{shape: [null, 3, 8, 8]}",
            "m.yaml:10: models.m.preprocess.dtype: dtype uint8 without input_scale",
        ),
        ("{dtype: int8}", "{shape: [null, 3, 8, 8]}", "dtype int8 without input_scale"),
        ("{scale: 0.5}", "{shape: [null, 3, 8, 8], scale: 2.0}", "models.m.preprocess.scale: scale is given both here"),
        ("{std: [1, 0.0000001, 1]}", "{shape: [null, 3, 8, 8]}", "models.m.preprocess.std: std must be at least"),
        ("{std: .inf}", "{shape: [null, 3, 8, 8]}", "models.m.preprocess.std: expected a finite number, got inf"),
        ("{mean: .nan}", "{shape: [null, 3, 8, 8]}", "models.m.preprocess.mean: expected a finite number, got nan"),
        ("{resize: 100000}", "{shape: [null, 3, 8, 8]}", "models.m.preprocess.resize: resize above 8192 pixels"),
    ],
)
def test_degenerate_preprocessing_is_refused_at_collection(tmp_path: Path, pre: str, inp: str, message: str) -> None:
    report = _problems(_manifest_with(tmp_path, PRE.replace("PRE", pre).replace("INPUT", inp)))
    assert message in report, report


def test_uint8_input_alone_means_raw_pixels(tmp_path: Path) -> None:
    path = _manifest_with(
        tmp_path,
        PRE.replace("PRE", "{dtype: uint8}")
        .replace("INPUT", "{shape: [null, 3, 8, 8]}")
        .replace("path: d}", "path: d}\nallow_outside_paths: true"),
    )
    assert load(path, lambda name: True).suite.models["m"].preprocess.scale == 1.0


@pytest.mark.parametrize("value", ["0", "-5", ".nan", ".inf", "1e308"])
def test_device_figures_outside_reason_are_refused(tmp_path: Path, value: str) -> None:
    text = (
        TORCH_SUITE.replace("PARADIGM", "edge_only").replace("PARAMS", "{}").replace("OUTAGES", "[]")
        + f"nodes:\n  box: {{profile: rpi4, gflops: {value}}}\n"
    )
    report = _problems(_manifest_with(tmp_path, text))
    assert "nodes.box.gflops: expected" in report, report


# -- 6. the gate never silently compares nothing -----------------------------------------------------------
@pytest.mark.slow
def test_empty_ref_is_a_usage_error_and_a_ref_of_nothing_is_said(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    demo.makefile(".yaml", suite=manifest(linear_model[1]))
    r = demo.runpytest("--aibench", "suite.yaml", "--aibench-against", "")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--aibench-against needs a REF*got an empty string*CI variable*"])
    empty = Path(demo.path) / "elsewhere"
    empty.mkdir()
    r = demo.runpytest("--aibench", "suite.yaml", "--aibench-against", str(empty))
    r.stdout.fnmatch_lines(["aibench: WARNING: *elsewhere holds none of this run's manifests*"])
    r = demo.runpytest("--aibench", "suite.yaml", "--aibench-against", str(empty), "--aibench-against-unknown", "fail")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r = demo.runpytest("--aibench", "suite.yaml", "--aibench-against", ".")
    r.stdout.fnmatch_lines(["aibench: WARNING: * is this tree itself*"])


def test_a_run_of_another_suite_is_said() -> None:
    from pytest_aibench.run.against import Reference, problems

    ref = Reference("run.json", "run", doc={"items": [{"id": "x", "suite": "other"}]})
    (why,) = problems(ref, [("demo", Path("suite.yaml"))], Path("."), Path("."))
    assert "is a run of other; this run measures demo" in why


def _temps() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("aibench-against-git-*")}


def test_git_refs_that_cannot_be_unpacked_or_without_git_leave_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_aibench.run.against import ReferenceError, open_reference

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True
        )

    git("init", "-q")
    (tmp_path / "abs").symlink_to("/etc/hostname")
    git("add", "abs")
    git("commit", "-qm", "x")
    before = _temps()
    with pytest.raises(ReferenceError, match="cannot unpack that revision safely"):
        open_reference("git:HEAD", tmp_path, tmp_path)
    assert _temps() == before
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(ReferenceError, match="git is not installed"):
        open_reference("git:HEAD", tmp_path, tmp_path)


# -- 5 (rules). every sign and unit means what it says ------------------------------------------------------
def test_rules_without_a_unit_on_a_time_are_refused_and_zero_limits_keep_their_sign() -> None:
    known = known_metric_names()
    with pytest.raises(RuleError, match=r"gives no unit: write latency.p50:\+5% .* or latency.p50:\+5ms"):
        parse_rules("latency.p50:+5", known)
    (ms,) = parse_rules("latency.p50:+5ms", known)
    assert not ms.relative and ms.limit == 5
    (up,), (down,) = parse_rules("latency.p50:+0%", known), parse_rules("accuracy:-0", known)
    assert up.worse_when_higher and not down.worse_when_higher


# -- 8. the published-model cache ---------------------------------------------------------------------------
def test_cache_paths_expand_the_home_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pytest_aibench.zoo import cache

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AIBENCH_CACHE", "~/c")
    assert cache.cache_root() == tmp_path / "c" / "models"


def test_a_cached_card_edited_to_match_swapped_bytes_is_refused_by_the_lock(tmp_path: Path) -> None:
    from pytest_aibench.zoo import cache
    from pytest_aibench.zoo.cards import CardError

    name, entry = next((n, e) for n, e in cache.lock()["models"].items() if e.get("sha256"))
    key = next(iter(entry["sha256"]))
    with pytest.raises(CardError, match=f"{key} differ from the sha256 pinned in"):
        cache.check_pinned(name, {key: {"sha256": "0" * 64}}, tmp_path / name)
    cache.check_pinned(name, {key: {"sha256": entry["sha256"][key]}}, tmp_path / name)


def test_a_failed_or_killed_build_leaves_no_partial_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_aibench.builder import cache

    name = next(iter(cache.lock()["models"]))

    def broken(*args: object) -> None:
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(cache, "_build_into", broken)
    with pytest.raises(RuntimeError):
        cache.build(name, tmp_path, SimpleNamespace())  # type: ignore[arg-type]
    assert not list(tmp_path.glob(f".{name}.build-*"))
    stale = tmp_path / f".{name}.build-999999"  # a build killed mid-way, in an earlier session
    stale.mkdir()

    def built(n: str, root: Path, progress: object) -> None:
        (root / n).mkdir()
        (root / n / "card.json").write_text("{}")

    monkeypatch.setattr(cache, "build", built)
    cache.ensure(name, root=tmp_path)
    assert not stale.exists() and (tmp_path / name / "card.json").is_file()


# -- 10. the README's worked examples run as written -----------------------------------------------------------
def _readme_block(after: str, lang: str = "yaml") -> str:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    start = text.index(f"```{lang}\n", text.index(after)) + len(lang) + 4
    return text[start : text.index("```", start)]


@pytest.mark.slow
def test_the_readme_resnet_example_runs_as_written_on_a_small_folder(pytester: pytest.Pytester) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    root = Path(pytester.path)
    rng = np.random.default_rng(0)
    for c in range(3):  # three classes of 20 JPEGs, bright in one channel each
        (root / "ImageNet" / "val" / f"n0{c}").mkdir(parents=True)
        for i in range(20):
            a = rng.integers(0, 60, (240, 320, 3), dtype=np.uint8)
            a[..., c] += 180
            Image.fromarray(a).save(root / "ImageNet" / "val" / f"n0{c}" / f"{i}.JPEG")
    w = np.zeros((3, 1000), np.float32)
    w[[0, 1, 2], [0, 1, 2]] = 1.0  # a 1000-way "ResNet50": the channel means, classes 0..2
    g = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "w", "b"], ["logits"]),
        ],
        "r",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 1000])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(1000, np.float32), "b")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, root / "resnet50.onnx")
    sha = __import__("hashlib").sha256((root / "resnet50.onnx").read_bytes()).hexdigest()
    text = _readme_block("A worked example: your own ResNet50 ONNX").replace("<the digest printed above>", sha)
    (root / "my-resnet.yaml").write_text(text)
    result = pytester.runpytest_subprocess("--aibench", "my-resnet.yaml", "--aibench-json", "run.json", timeout=300)
    result.assert_outcomes(passed=1)
    (item,) = json.loads((root / "run.json").read_text())["items"]
    assert item["metrics"]["accuracy"] == 1.0 and item["dataset"]["images"] == 60
    assert any("params.samples 5000 is more than the 60 images" in f for f in item["flags"])


# -- 9. bundles: verify checks an image folder against the run's content hash -----------------------------------
def _bright_onnx(path: Path) -> str:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "w", "b"], ["y"]),
        ],
        "bright",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 12, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [
            numpy_helper.from_array(np.array([[-4, 4]] * 3, np.float32), "w"),
            numpy_helper.from_array(np.array([2, -2], np.float32), "b"),
        ],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_verify_checks_a_bundled_runs_image_folder(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    from pytest_aibench.cli import main as aibench

    root = Path(pytester.path)
    _tree(root / "imgs")
    sha = _bright_onnx(root / "bright.onnx")
    (root / "suite.yaml").write_text(f"""\
suite: img
version: "1"
datasets:
  d: {{source: images, path: imgs, eval_fraction: 1.0}}
models:
  m: {{file: bright.onnx, sha256: {sha}, input: {{name: x, shape: [null, 3, 12, 16]}}}}
frameworks: [onnxruntime]
settings: {{latency_samples: 5, warmup: 1}}
""")
    pytester.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json").assert_outcomes(passed=1)
    assert aibench(["bundle", str(root / "r.json"), "-o", str(root / "b.tar.gz"), "--root", str(root)]) == 0
    monkeypatch.chdir(root)
    assert aibench(["verify", "b.tar.gz"]) == 0
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(root / "imgs" / "c1" / "i2.png")
    capsys.readouterr()
    assert aibench(["verify", "b.tar.gz"]) == 1
    assert "dataset 'd': folder imgs here hashes to" in capsys.readouterr().out


def test_a_reference_checkout_finds_published_models_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_aibench.zoo import cache
    from pytest_aibench.zoo.cards import find_card

    name, entry = next((n, e) for n, e in cache.lock()["models"].items() if e.get("sha256"))
    monkeypatch.setenv("AIBENCH_CACHE", str(tmp_path / "c"))
    folder = tmp_path / "c" / "models" / name
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps({"artifacts": {k: {"sha256": v} for k, v in entry["sha256"].items()}}))
    ref_tree = tmp_path / "ref" / "fixtures"  # git:REV's tree: its zoo cards, but published models live in the cache
    (ref_tree / "models").mkdir(parents=True)
    assert find_card(name, ref_tree).folder == folder


def test_a_bundled_manifest_larger_than_any_manifest_is_refused_before_it_is_read(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    from test_hostile import _bundle, _repack

    from pytest_aibench.cli import main as aibench

    good = _bundle(demo, linear_model)
    _repack(good, good.with_name("fat.tar.gz"), {"manifests/fat.yaml": b"#" * (5 * 2**20)})
    with pytest.raises(
        SystemExit,
        match=r"member 'manifests/fat.yaml' \(5,242,880 bytes\) is over the limits "
        r"\(4,194,304 bytes for a manifest",
    ):
        aibench(["verify", str(good.with_name("fat.tar.gz"))])
