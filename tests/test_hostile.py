"""Hostile and mistaken input, second round: factories that cannot kill the run, numbers that are never
made up, bounds, include typos, outputs that never lose results."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import manifest

TORCH_SUITE = """\
suite: f
version: '1'
datasets:
  digits: {{source: digits}}
models:
{models}frameworks: [torch]
settings: {{latency_samples: 5, warmup: 1}}
{extra}"""


def _weights(p: pytest.Pytester) -> str:
    from pytest_aibench.zoo.cards import find_card

    raw = (find_card("tinycnn-digits").folder / "model.pt").read_bytes()
    (Path(p.path) / "weights.pt").write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()


def _factory_model(name: str, factory: str, sha: str) -> str:
    return f"  {name}:\n    factory: '{factory}'\n    file: weights.pt\n    sha256: {sha}\n"


def test_a_factory_outside_the_manifests_folder_is_refused_before_anything_runs(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    sha = _weights(pytester)
    (Path(pytester.path) / "suite.yaml").write_text(
        TORCH_SUITE.format(
            models=_factory_model("evil", "os:abort", sha) + _factory_model("pdb", "builtins:breakpoint", sha), extra=""
        )
    )
    r = pytester.runpytest_subprocess("--aibench", "suite.yaml")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(
        [
            "*suite.yaml:7: models.evil.factory: factory 'os:abort': module 'os' is not a file in the "
            "manifest's folder*expected os.py or os/__init__.py there*'trusted_modules:'*",
            "*models.pdb.factory: factory 'builtins:breakpoint'*",
        ]
    )


@pytest.mark.slow
def test_a_factory_that_aborts_or_exits_fails_its_own_item_only(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    sha = _weights(pytester)
    pytester.makepyfile(
        suite_nets="import os\n\ndef aborts():\n    os.abort()\n\n"
        "def exits():\n    raise SystemExit(3)\n\n"
        "def tiny():\n    from pytest_aibench.zoo.tinycnn import build\n"
        "    return build(width=16)\n"
    )
    (Path(pytester.path) / "suite.yaml").write_text(
        TORCH_SUITE.format(
            models=_factory_model("aborts", "suite_nets:aborts", sha)
            + _factory_model("exits", "suite_nets:exits", sha)
            + _factory_model("good", "suite_nets:tiny", sha),
            extra="",
        )
    )
    r = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json")
    r.assert_outcomes(passed=1, failed=2)
    r.stdout.fnmatch_lines(["*aborts*killed by SIGABRT*", "*factory 'suite_nets:exits' raised SystemExit: 3*"])
    items = {i["model"]: i for i in json.loads((Path(pytester.path) / "r.json").read_text())["items"]}
    assert items["good"]["metrics"]["accuracy"] > 0.9
    assert items["good"]["runner"]["isolated"] == "child process"


@pytest.mark.slow
def test_trusted_modules_opt_in_to_a_factory_from_outside(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    root = Path(pytester.path)
    (root / "lib").mkdir()
    (root / "lib" / "house_nets.py").write_text(
        "def tiny():\n    from pytest_aibench.zoo.tinycnn import build\n    return build(width=16)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(root / "lib"))
    sha = _weights(pytester)
    models = _factory_model("tiny", "house_nets:tiny", sha)
    (root / "suite.yaml").write_text(TORCH_SUITE.format(models=models, extra=""))
    assert pytester.runpytest_subprocess("--aibench", "suite.yaml").ret == pytest.ExitCode.USAGE_ERROR
    (root / "suite.yaml").write_text(TORCH_SUITE.format(models=models, extra="trusted_modules: [house_nets]\n"))
    pytester.runpytest_subprocess("--aibench", "suite.yaml").assert_outcomes(passed=1)


# -- numbers that are never made up ------------------------------------------------------------------


def _npz_suite(demo: pytest.Pytester, w: np.ndarray, b: np.ndarray, extra: str = "", models: str | None = None) -> str:
    path = Path(demo.path) / "odd.npz"
    np.savez(path, w=w, b=b)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    (Path(demo.path) / "suite.yaml").write_text(
        manifest(sha, models=models or f"  odd:\n    file: odd.npz\n    sha256: {sha}\n", extra=extra)
    )
    return sha


def test_a_model_scoring_nan_fails_its_item_saying_so(demo: pytest.Pytester) -> None:
    w = np.zeros((64, 10), np.float32)
    w[:, 3] = np.nan  # column 3 is NaN for every sample whose pixels are not all zero
    _npz_suite(demo, w, np.zeros(10, np.float32))
    r = demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*the model: NaN/inf scores for * of * samples; no quality figure is reported*"])
    (item,) = json.loads((Path(demo.path) / "r.json").read_text())["items"]
    assert "accuracy" not in item["metrics"]


# -- bounds ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("{threads: 100000}", "threads: 100000 is more than 8 per CPU on this machine"),
        ("{latency_samples: 2000000000}", "expected a number <= 10000000, got 2000000000"),
        ("{max_pair_seconds: 100000.0}", "expected a number <= 3600"),
    ],
)
def test_absurd_settings_are_refused_at_validation(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], settings: str, expected: str
) -> None:
    text = manifest(linear_model[1]).replace("settings: {warmup: 2, latency_samples: 20}", f"settings: {settings}")
    (Path(demo.path) / "suite.yaml").write_text(text)
    r = demo.runpytest("--aibench", "suite.yaml")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines([f"*suite.yaml:*settings.*{expected}*"])


def test_a_matrix_over_the_item_limit_is_refused_with_its_size_quickly(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    axes = "axes:\n" + "".join(f"  a{i}: [{', '.join(str(v) for v in range(10))}]\n" for i in range(6))
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], extra=axes))
    r = demo.runpytest("--aibench", "suite.yaml", "--collect-only")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(
        [
            "*the matrix expands to 1,000,000 combinations before exclude rules, over this suite's "
            "limit of 100,000 items*max_items: 1000000*"
        ]
    )
    assert r.duration < 60
    small = "max_items: 10\naxes:\n  a0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n"
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], extra=small))
    assert demo.runpytest("--aibench", "suite.yaml", "--collect-only").ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--aibench-timeout", "-5"), "*--aibench-timeout: expected a number of seconds > 0, got '-5'*"),
        (("--aibench-timeout", "0"), "*--aibench-timeout: expected a number of seconds > 0, got '0'*"),
        (("--aibench-repeat", "0"), "*--aibench-repeat: expected a whole number >= 1, got '0'*"),
    ],
)
def test_option_values_are_checked(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], args: tuple[str, ...], expected: str
) -> None:
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    r = demo.runpytest("--aibench", "suite.yaml", *args)
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines([expected])


# -- matrix rules -------------------------------------------------------------------------------------


def test_a_typo_in_an_include_key_gets_a_suggestion_and_a_new_variable_stays_possible(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    typo = "matrix: {include: [{model: linear, framework: numpy, quantisation: int8}]}\n"
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], extra=typo))
    r = demo.runpytest("--aibench", "suite.yaml", "--collect-only")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(
        [
            "*matrix.include.0.quantisation: include rule key 'quantisation' is not an axis; "
            "did you mean 'quantization'?*"
        ]
    )
    ok = "matrix: {include: [{model: linear, framework: numpy, var_note: tuned}]}\n"
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], extra=ok))
    r = demo.runpytest("--aibench", "suite.yaml", "--collect-only", "-q")
    assert r.ret == pytest.ExitCode.OK


def test_an_exclude_that_empties_the_matrix_says_so(demo: pytest.Pytester, linear_model: tuple[bytes, str]) -> None:
    (Path(demo.path) / "suite.yaml").write_text(
        manifest(linear_model[1], extra="matrix: {exclude: [{framework: numpy}]}\n")
    )
    r = demo.runpytest("--aibench", "suite.yaml")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*matrix.exclude: the exclude rules remove every one of the 1 combinations*"])


# -- outputs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--aibench-out", "afile/x"), "*--aibench-out */afile/x: cannot write there (Not a directory)*"),
        (("--aibench-out", "afile"), "*--aibench-out */afile: not a folder*"),
        (("--aibench-json", "adir"), "*--aibench-json adir: a folder; give a file path*"),
        (("--aibench-md", "afile/pr.md"), "*--aibench-md afile/pr.md: its folder */afile: not a folder*"),
        (("--aibench-save", "../../x"), "*--aibench-save '../../x': a baseline name is letters, digits*"),
    ],
)
def test_output_paths_are_checked_before_anything_is_measured(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], args: tuple[str, ...], expected: str
) -> None:
    root = Path(demo.path)
    (root / "suite.yaml").write_text(manifest(linear_model[1]))
    (root / "afile").write_text("")
    (root / "adir").mkdir()
    r = demo.runpytest("--aibench", "suite.yaml", *args)
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines([expected])
    assert "INTERNALERROR" not in r.stdout.str() + r.stderr.str()
    assert not (root / ".aibench" / "runs").exists() or not any((root / ".aibench" / "runs").iterdir())


FULL_DISK = """
import errno
import pytest
from pytest_aibench.report import journal

_write = journal.Journal.write


def _full(self, record):
    if record.get("type") == "item" and record.get("model") != "a":
        raise OSError(errno.ENOSPC, "No space left on device")
    _write(self, record)


journal.Journal.write = _full  # this pytest process only (the test runs it as a subprocess)
"""


def test_a_full_disk_mid_run_loses_no_result_and_the_other_files_are_written(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    names = ["a", "b", "c"]
    models = "".join(f"  {n}:\n    file: model.npz\n    sha256: {linear_model[1]}\n" for n in names)
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], models=models))
    Path(demo.path, "conftest.py").write_text(Path(demo.path, "conftest.py").read_text() + FULL_DISK)
    (Path(demo.path) / "afile").write_text("")
    r = demo.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json", "--aibench-csv", "r.csv")
    r.assert_outcomes(passed=3)
    out = r.stdout.str()
    assert out.count("could not write journal") == 1
    r.stdout.fnmatch_lines(
        ["*could not write journal *journal.jsonl: OSError: No space left on device; the results are kept in memory*"]
    )
    assert sorted(i["model"] for i in json.loads((Path(demo.path) / "r.json").read_text())["items"]) == names
    assert len((Path(demo.path) / "r.csv").read_text().splitlines()) == 4


def test_a_failing_exporter_does_not_stop_the_others_or_the_leaderboard(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    Path(demo.path, "conftest.py").write_text(
        Path(demo.path, "conftest.py").read_text()
        + ("\nfrom pytest_aibench.report import exports\n\nexports.to_csv = lambda results: 1 / 0\n")
    )
    r = demo.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-csv", "r.csv", "--aibench-md", "r.md")
    r.assert_outcomes(passed=1)
    r.stdout.fnmatch_lines(["*aibench leaderboard: demo*", "*could not write --aibench-csv *r.csv: ZeroDivisionError*"])
    assert (Path(demo.path) / "r.md").is_file() and not (Path(demo.path) / "r.csv").exists()


# -- bundles --------------------------------------------------------------------------------------------


def _bundle(demo: pytest.Pytester, linear_model: tuple[bytes, str]) -> Path:
    from pytest_aibench.cli import main as aibench

    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json").assert_outcomes(passed=1)
    d = Path(demo.path)
    assert aibench(["bundle", str(d / "r.json"), "-o", str(d / "b.tar.gz"), "--root", str(d)]) == 0
    return d / "b.tar.gz"


def _repack(src: Path, dst: Path, extra: dict[str, bytes]) -> None:
    """``src`` with ``extra`` members added, each listed in SHA256SUMS as a forger would."""
    import io
    import tarfile

    with tarfile.open(src) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    files.update(extra)
    files["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in sorted(files.items()) if k != "SHA256SUMS"
    ).encode()
    with tarfile.open(dst, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    "member", ["manifests/conftest.py", "manifests/pytest.ini", "notes.txt", "loadgen/x/evil.py", "artifacts/model.so"]
)
def test_a_bundle_holding_anything_but_data_fails_verify_and_is_never_rerun(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], capsys: pytest.CaptureFixture[str], member: str
) -> None:
    from pytest_aibench.cli import main as aibench

    good = _bundle(demo, linear_model)
    evil = good.with_name("evil.tar.gz")
    _repack(good, evil, {member: b"open('pwned', 'w')\n"})
    with pytest.raises(SystemExit, match=f"refusing member '{member}': a bundle holds only"):
        aibench(["verify", str(evil)])
    with pytest.raises(SystemExit, match="refusing member"):
        aibench(["rerun", str(evil), "--root", str(demo.path)])
    assert not (Path(demo.path) / "pwned").exists()


def test_a_manifest_the_run_did_not_use_fails_verify(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_aibench.cli import main as aibench

    good = _bundle(demo, linear_model)
    _repack(good, good.with_name("x.tar.gz"), {"manifests/other.yaml": b"suite: other\n"})
    assert aibench(["verify", str(good.with_name("x.tar.gz"))]) == 1
    assert "manifests/other.yaml: a manifest the bundled run did not use" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["missing", "not gzip", "truncated", "folder"])
def test_unreadable_bundles_get_one_clear_line(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], damage: str
) -> None:
    from pytest_aibench.cli import main as aibench

    good = _bundle(demo, linear_model)
    bad = good.with_name("bad.tar.gz")
    if damage == "not gzip":
        bad.write_bytes(b"PK\x03\x04 this is a zip, not a bundle")
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    elif damage == "folder":
        bad.mkdir()
    expected = {"missing": "no such file", "folder": "a folder, not a bundle file"}.get(damage, "not a readable bundle")
    with pytest.raises(SystemExit, match=f"aibench verify: .*bad.tar.gz: {expected}"):
        aibench(["verify", str(bad)])


def test_a_gzip_bomb_is_refused_before_its_bytes_are_read(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_aibench.cli import bundle as bundles
    from pytest_aibench.cli import main as aibench

    good = _bundle(demo, linear_model)
    _repack(good, good.with_name("big.tar.gz"), {"artifacts/big.onnx": bytes(4 * 2**20)})
    monkeypatch.setattr(bundles, "MAX_MEMBER_BYTES", 2**20)
    with pytest.raises(SystemExit, match=r"member 'artifacts/big.onnx' \(4,194,304 bytes\) is over the limits"):
        aibench(["verify", str(good.with_name("big.tar.gz"))])


@pytest.mark.slow
def test_rerun_says_no_code_from_the_bundle_is_imported(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_aibench.cli import main as aibench

    good = _bundle(demo, linear_model)
    capsys.readouterr()
    aibench(["rerun", str(good), "--root", str(demo.path)])
    assert "no code from the bundle is imported" in capsys.readouterr().out


# -- resume -------------------------------------------------------------------------------------------------


def _two_items(demo: pytest.Pytester, linear_model: tuple[bytes, str], gate: str = 'accuracy: ">= 0.9"') -> None:
    models = "".join(f"  {n}:\n    file: model.npz\n    sha256: {linear_model[1]}\n" for n in ("a", "b"))
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], models=models, gates=gate))


def _cut_after_first_item(demo: pytest.Pytester, tear: bool = False) -> None:
    """The latest journal as a run killed after its first item left it (``tear``: mid-way through a line)."""
    journal = Path(demo.path) / ".aibench" / "latest" / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    kept = lines[:2]
    if tear:
        kept.append(lines[2][: len(lines[2]) // 2])
    journal.write_text("".join(kept))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("manifest", "manifest * changed (sha256 *"),
        ("seed", "seed 7 now, 0 in the journal"),
    ],
)
def test_resume_refuses_another_configuration_unless_forced(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], change: str, expected: str
) -> None:
    _two_items(demo, linear_model)
    demo.runpytest("--aibench", "suite.yaml").assert_outcomes(passed=2)
    _cut_after_first_item(demo)
    args = ["--aibench", "suite.yaml", "--aibench-resume"]
    if change == "manifest":
        _two_items(demo, linear_model, gate='accuracy: ">= 0.5"')
    else:
        args += ["--aibench-seed", "7"]
    r = demo.runpytest(*args)
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(
        [f"*--aibench-resume: the run in * was made with another configuration*{expected}*--aibench-resume=force*"]
    )
    forced = [a if a != "--aibench-resume" else "--aibench-resume=force" for a in args]
    demo.runpytest(*forced, "--aibench-json", "r.json").assert_outcomes(passed=1, deselected=1)
    seeds = {i["model"]: i["seed"] for i in json.loads((Path(demo.path) / "r.json").read_text())["items"]}
    assert set(seeds) == {"a", "b"}
    if change == "seed":
        assert seeds["a"] != seeds["b"]  # each item keeps the seed it was measured with


@pytest.mark.slow
def test_resume_after_a_torn_journal_line_starts_a_fresh_line(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    from pytest_aibench.report import journal

    _two_items(demo, linear_model)
    demo.runpytest("--aibench", "suite.yaml").assert_outcomes(passed=2)
    _cut_after_first_item(demo, tear=True)
    demo.runpytest("--aibench", "suite.yaml", "--aibench-resume").assert_outcomes(passed=1, deselected=1)
    _, items, footer = journal.read(Path(demo.path) / ".aibench" / "latest" / "journal.jsonl")
    assert sorted(i["model"] for i in items) == ["a", "b"] and footer is not None


# -- model inputs and outputs -------------------------------------------------------------------------


def _onnx_digits(path: Path, *, batch: int | str | None = None, outputs: int = 1) -> str:
    """A linear digits classifier as ONNX (input 'image', outputs 'scores', 'extra1', ...)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from pytest_aibench.core.model import DatasetSpec
    from pytest_aibench.data import materialize

    data = materialize(DatasetSpec(name="digits", source="digits"))
    x = data.x_train.reshape(len(data.x_train), -1)
    w = np.linalg.lstsq(np.hstack([x, np.ones((len(x), 1))]), np.eye(10)[data.y_train], rcond=None)[0].astype(
        np.float32
    )
    dim = batch if batch is not None else "N"
    nodes = [
        helper.make_node("Flatten", ["image"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w", "b"], ["scores"]),
    ]
    outs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [dim, 10])]
    for k in range(1, outputs):
        nodes.append(helper.make_node("Neg", ["scores"], [f"extra{k}"]))
        outs.insert(0, helper.make_tensor_value_info(f"extra{k}", TensorProto.FLOAT, [dim, 10]))  # scores not first
    g = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [dim, 1, 8, 8])],
        outs,
        [numpy_helper.from_array(w[:-1], "w"), numpy_helper.from_array(w[-1], "b")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


ONNX_SUITE = """\
suite: io
version: '1'
datasets:
  digits: {{source: digits}}
models:
  m:
    file: m.onnx
    sha256: {sha}
{extra}frameworks: [onnxruntime]
settings: {{latency_samples: 10, warmup: 1, batch_size: 64}}
"""


@pytest.mark.parametrize(
    ("build", "extra", "outcome", "expected"),
    [
        (
            {"outputs": 3},
            "",
            "errors",
            "*the model has 3 outputs (extra2, extra1, scores); say which holds the class scores with 'output:'*",
        ),
        ({"outputs": 3}, "    output: scores\n", "passed", None),
        ({"outputs": 3}, "    output: 2\n", "passed", None),
        (
            {"outputs": 3},
            "    output: logits\n",
            "errors",
            "*'output: logits' is not an output of the model (its outputs: extra2, extra1, scores)*",
        ),
        ({"batch": 1}, "", "passed", None),
        (
            {},
            "    input: {name: pixels, shape: [null, 1, 8, 8]}\n",
            "errors",
            "*the manifest's input name 'pixels' is not an input of the model (its inputs: image)*",
        ),
        (
            {},
            "    input: {shape: [null, 1, 8, 8], dtype: uint8}\n",
            "errors",
            "*the manifest says input dtype uint8, the model's input 'image' is tensor(float)*",
        ),
        (
            {},
            "    input: {shape: [null, 64]}\n",
            "errors",
            "*the manifest says input shape ?None, 64?, the model's input 'image' is ?'N', 1, 8, 8?*",
        ),
    ],
)
@pytest.mark.slow
def test_input_and_output_mismatches_are_one_clear_message_and_output_picks_the_scores(
    pytester: pytest.Pytester, build: dict, extra: str, outcome: str, expected: str | None
) -> None:
    pytest.importorskip("onnxruntime")
    sha = _onnx_digits(Path(pytester.path) / "m.onnx", **build)
    (Path(pytester.path) / "suite.yaml").write_text(ONNX_SUITE.format(sha=sha, extra=extra))
    r = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json")
    r.assert_outcomes(**{outcome: 1})
    (item,) = json.loads((Path(pytester.path) / "r.json").read_text())["items"]
    if expected:
        r.stdout.fnmatch_lines([expected])
        assert "Traceback" not in r.stdout.str()
    else:
        assert item["metrics"]["accuracy"] > 0.9
        assert item["runner"]["output"] == "scores"
        if build.get("batch"):
            assert item["runner"]["fixed_batch"] == 1


# -- datasets -----------------------------------------------------------------------------------------------


def _digits_file(root: Path, *, layout: str = "NCHW", drop_top: bool = False, labels_shift: int = 0) -> str:
    from pytest_aibench.core.model import DatasetSpec
    from pytest_aibench.data import materialize

    d = materialize(DatasetSpec(name="digits", source="digits", eval_fraction=0.25))
    x, y = d.x_eval, d.y_eval + labels_shift
    if drop_top:
        keep = y != 9
        x, y = x[keep], y[keep]
    if layout == "NHWC":
        x = x.transpose(0, 2, 3, 1)
    np.savez(root / "test.npz", x=x, y=y)
    return hashlib.sha256((root / "test.npz").read_bytes()).hexdigest()


def _file_suite(demo: pytest.Pytester, linear_model: tuple[bytes, str], data_sha: str, params: str) -> None:
    text = manifest(linear_model[1]).replace(
        "  digits: {source: digits, split_seed: 0}",
        f"  digits: {{source: npz, path: test.npz, sha256: {data_sha}, eval_fraction: 1.0, params: {params}}}",
    )
    (Path(demo.path) / "suite.yaml").write_text(text)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_a_test_file_is_evaluated_whole_in_its_layout_and_the_leaderboard_says_on_how_many(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], layout: str
) -> None:
    sha = _digits_file(Path(demo.path), layout=layout)
    _file_suite(demo, linear_model, sha, f"{{layout: {layout}, num_classes: 10}}")
    r = demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json")
    r.assert_outcomes(passed=1)
    r.stdout.fnmatch_lines(["accuracy on: digits 449 samples (the whole dataset)"])
    (item,) = json.loads((Path(demo.path) / "r.json").read_text())["items"]
    assert item["metrics"]["eval"]["samples"] == 449 and item["metrics"]["accuracy"] > 0.9  # NHWC read right


def test_num_classes_serves_a_file_lacking_the_top_class_and_labels_outside_fail(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    sha = _digits_file(Path(demo.path), drop_top=True)
    _file_suite(demo, linear_model, sha, "{}")
    r = demo.runpytest("--aibench", "suite.yaml")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(
        ["demo::linear?numpy-fp32-single?: model outputs shape ?64, 10?, expected ?N, 9?*set params.num_classes*"]
    )
    _file_suite(demo, linear_model, sha, "{num_classes: 10}")
    demo.runpytest("--aibench", "suite.yaml").assert_outcomes(passed=1)
    sha = _digits_file(Path(demo.path), labels_shift=1)  # labels 1..10
    _file_suite(demo, linear_model, sha, "{num_classes: 10}")
    r = demo.runpytest("--aibench", "suite.yaml")
    r.stdout.fnmatch_lines(
        ["*label(s) in *test.npz lie outside ?0, 10) (found 1..10); fix the labels or params.num_classes*"]
    )


def test_verify_checks_the_local_dataset_files_against_the_manifests_hashes(
    demo: pytest.Pytester,
    linear_model: tuple[bytes, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_aibench.cli import main as aibench

    root = Path(demo.path)
    _file_suite(demo, linear_model, _digits_file(root), "{num_classes: 10}")
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json").assert_outcomes(passed=1)
    assert aibench(["bundle", str(root / "r.json"), "-o", str(root / "b.tar.gz"), "--root", str(root)]) == 0
    monkeypatch.chdir(root)
    assert aibench(["verify", "b.tar.gz"]) == 0
    with np.load(root / "test.npz") as z:
        np.savez(root / "test.npz", x=z["x"], y=z["y"][::-1])  # same arrays, labels shuffled
    capsys.readouterr()
    assert aibench(["verify", "b.tar.gz"]) == 1
    assert "dataset 'digits': file test.npz here has sha256" in capsys.readouterr().out


def test_an_include_rules_bad_value_is_reported_at_its_key(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    rule = "matrix: {include: [{model: linear, framework: numpy, quantization: int9}]}\n"
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], extra=rule))
    r = demo.runpytest("--aibench", "suite.yaml", "--collect-only")
    r.stderr.fnmatch_lines(
        ["*suite.yaml:*: matrix.include.0.quantization: unknown quantization 'int9'*did you mean 'int8'?"]
    )


def test_bundle_finds_the_manifests_of_a_run_started_from_another_folder(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    import tarfile

    from pytest_aibench.cli import main as aibench

    root = Path(demo.path)
    proj = root / "proj"
    proj.mkdir()
    (proj / "model.npz").write_bytes(linear_model[0])
    (proj / "suite.yaml").write_text(manifest(linear_model[1]))
    demo.runpytest("--aibench", str(proj / "suite.yaml"), "--aibench-json", "r.json").assert_outcomes(passed=1)
    assert aibench(["bundle", str(root / "r.json"), "-o", str(root / "b.tar.gz"), "--root", str(proj)]) == 0
    with tarfile.open(root / "b.tar.gz") as tar:
        assert "manifests/proj/suite.yaml" in tar.getnames()
    assert aibench(["verify", str(root / "b.tar.gz")]) == 0


@pytest.mark.slow
def test_a_torch_program_with_several_outputs_is_scored_on_the_one_output_names(pytester: pytest.Pytester) -> None:
    torch = pytest.importorskip("torch")
    from pytest_aibench.zoo.cards import find_card
    from pytest_aibench.zoo.tinycnn import build

    net = build(width=16)
    net.load_state_dict(torch.load(find_card("tinycnn-digits").folder / "model.pt", weights_only=True))
    net.eval()

    class Two(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            s = self.net(x)
            return -s, s

    batch = torch.export.Dim("batch", min=1, max=4096)
    prog = torch.export.export(Two(), (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},))
    path = Path(pytester.path) / "two.pt2"
    torch.export.save(prog, str(path))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    suite = (
        "suite: two\nversion: '1'\ndatasets:\n  digits: {source: digits}\nmodels:\n"
        f"  two:\n    file: two.pt2\n    sha256: {sha}\nEXTRAframeworks: [torch]\n"
        "settings: {latency_samples: 5, warmup: 1}\n"
    )
    (Path(pytester.path) / "suite.yaml").write_text(suite.replace("EXTRA", ""))
    r = pytester.runpytest_subprocess("--aibench", "suite.yaml")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*two.pt2 (torch): the model has 2 outputs (0, 1); say which holds the class scores*"])
    (Path(pytester.path) / "suite.yaml").write_text(suite.replace("EXTRA", "    output: 1\n"))
    r = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json")
    r.assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "r.json").read_text())["items"]
    assert item["metrics"]["accuracy"] > 0.95
