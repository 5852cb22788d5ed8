"""``--aibench-against REF``: the reference side re-measured beside each item, interleaved, judged on
the pairs. End to end with the numpy demo runner: a "heavier model" is the same weights with a
per-call cost in the file (``cost_us``), so the regression is in the artifact, as a real one is."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pytest_aibench.cli import main as aibench
from tests.conftest import manifest

RULE = "latency.p50:+10%"


def heavy_bytes(light: bytes, cost_us: float = 300.0) -> bytes:
    with np.load(io.BytesIO(light)) as z:
        w, b = z["w"], z["b"]
    buf = io.BytesIO()
    np.savez(buf, w=w, b=b, cost_us=np.float64(cost_us))
    return buf.getvalue()


def write_suite(folder: Path, model: bytes, extra: str = "", models: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.npz").write_bytes(model)
    sha = hashlib.sha256(model).hexdigest()
    (folder / "suite.yaml").write_text(manifest(sha, extra=extra, models=models))


def run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest_subprocess(
        "--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json", *args
    )


def against_info(p: pytest.Pytester) -> list[dict]:
    doc = json.loads((Path(p.path) / "run.json").read_text())
    return [i["info"]["against"] for i in doc["items"]]


@pytest.fixture
def light(linear_model: tuple[bytes, str]) -> bytes:
    return linear_model[0]


@pytest.mark.slow
def test_saved_baseline_same_model_is_same_and_keeps_both_sides(demo: pytest.Pytester, light: bytes) -> None:
    write_suite(Path(demo.path), light)
    run(demo, "--aibench-save", "base").assert_outcomes(passed=1)
    r = run(demo, "--aibench-against", "base", "--aibench-fail-on", RULE, "--aibench-md", "m.md", "--junitxml=j.xml")
    r.assert_outcomes(passed=1)
    r.stdout.fnmatch_lines(
        ["*paired against base: 1 item measured side by side, 0 REGRESSED, 1 SAME*", f"*{RULE}*SAME*"]
    )
    (info,) = against_info(demo)
    assert info["status"] == "compared" and info["kind"] == "saved" and info["outcome"] == "SAME"
    verdict = info["verdicts"][0]
    assert verdict["ci_low"] <= verdict["ratio"] <= verdict["ci_high"] < 1.10
    item = json.loads((Path(demo.path) / "run.json").read_text())["items"][0]
    n = info["pairs"]
    assert len(item["samples"]["paired_reference_ns"]) == len(item["samples"]["paired_candidate_ns"]) == n >= 100
    assert "Paired against `base`" in (Path(demo.path) / "m.md").read_text()
    junit = (Path(demo.path) / "j.xml").read_text()
    assert '::aibench.paired.outcome" value="SAME"' in junit and "::aibench.paired.p50_ratio" in junit


@pytest.mark.slow
def test_run_json_reference_found_by_sha256_in_its_folder_detects_heavier_model(
    demo: pytest.Pytester, light: bytes
) -> None:
    root = Path(demo.path)
    write_suite(root, light)
    run(demo).assert_outcomes(passed=1)
    (root / "ref").mkdir()
    shutil.move(root / "run.json", root / "ref" / "base.json")
    shutil.copy(root / "model.npz", root / "ref" / "old-model.npz")  # the recorded path will hold the new model
    write_suite(root, heavy_bytes(light))
    r = run(demo, "--aibench-against", "ref/base.json", "--aibench-fail-on", RULE)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(
        [
            "*against ref/base.json: latency.p50:+10% REGRESSED: candidate * ms vs reference * ms, "
            "ratio * (99% interval [[]*[]]) over * interleaved pairs in * s*"
        ]
    )
    (info,) = against_info(demo)
    assert info["kind"] == "run" and info["outcome"] == "REGRESSED"
    assert Path(info["artifact"]["path"]).name == "old-model.npz"
    assert info["verdicts"][0]["ratio"] > 2


@pytest.mark.slow
def test_bundle_reference(demo: pytest.Pytester, light: bytes) -> None:
    root = Path(demo.path)
    write_suite(root, light)
    run(demo).assert_outcomes(passed=1)
    assert aibench(["bundle", str(root / "run.json"), "-o", str(root / "base.tar.gz"), "--root", str(root)]) == 0
    shutil.copy(root / "model.npz", root / "base-model.npz")
    write_suite(root, heavy_bytes(light))
    r = run(demo, "--aibench-against", "base.tar.gz", "--aibench-fail-on", RULE)
    r.assert_outcomes(failed=1)
    (info,) = against_info(demo)
    assert info["kind"] == "bundle" and info["outcome"] == "REGRESSED"


@pytest.mark.slow
def test_folder_reference_and_its_missing_case_is_reported(demo: pytest.Pytester, light: bytes) -> None:
    root = Path(demo.path)
    write_suite(root / "old", light)
    extra_model = (
        f"  linear:\n    file: model.npz\n    sha256: {hashlib.sha256(light).hexdigest()}\n"
        f"  fresh:\n    file: model.npz\n    sha256: {hashlib.sha256(light).hexdigest()}\n"
    )
    write_suite(root, light, models=extra_model)
    r = run(demo, "--aibench-against", "old", "--aibench-fail-on", RULE)
    r.assert_outcomes(passed=2)
    r.stdout.fnmatch_lines(
        ["*1 SAME, 0 UNKNOWN (inconclusive), 1 not compared*", "*NOT COMPARED fresh*has no case demo::fresh*"]
    )
    infos = {i["status"].split(":")[0] for i in against_info(demo)}
    assert infos == {"compared", "not compared"}


def _git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True, env=env).stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_revision_reference_never_touches_the_tree(
    demo: pytest.Pytester, light: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = Path(demo.path)
    # pytester makes this folder HOME, so the user cache (~/.cache: built models, schema verdicts) would
    # land in the tree; a user's cache lives elsewhere
    monkeypatch.setenv("AIBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    write_suite(root, light)
    (root / ".gitignore").write_text(".aibench/\nrun.json\nrunpytest-current\nstdout\nstderr\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "light")
    write_suite(root, heavy_bytes(light))
    _git(root, "commit", "-qam", "heavy")
    (root / "untracked.txt").write_text("mine")
    status = _git(root, "status", "--porcelain")
    r = run(demo, "--aibench-against", "git:HEAD~1", "--aibench-fail-on", RULE)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*REGRESSED*"])
    run(demo, "--aibench-against", "git:HEAD", "--aibench-fail-on", RULE).assert_outcomes(passed=1)
    assert _git(root, "status", "--porcelain") == status
    assert _git(root, "worktree", "list").count("\n") == 1
    (info,) = against_info(demo)
    assert info["kind"] == "git" and info["ref"].startswith("git:HEAD (")


@pytest.mark.slow
def test_partner_interpreter_runs_the_reference_side(
    demo: pytest.Pytester, light: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(demo.path)
    write_suite(root / "old", light)
    write_suite(root, heavy_bytes(light))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    r = run(demo, "--aibench-against", "old", "--aibench-against-python", sys.executable, "--aibench-fail-on", RULE)
    r.assert_outcomes(failed=1)
    (info,) = against_info(demo)
    env = info["reference_environment"]
    assert env["where"] == f"partner interpreter {sys.executable}" and env["runner"] == "numpy"
    assert env["versions"]["numpy"] == np.__version__
    assert info["outcome"] == "REGRESSED"
    if hasattr(os, "sched_getaffinity"):
        assert info["placement"]["cpus"]


@pytest.mark.slow
def test_unknown_after_the_budget_is_inconclusive_not_a_silent_pass(demo: pytest.Pytester, light: bytes) -> None:
    root = Path(demo.path)
    write_suite(root / "old", light)
    # the same model against a zero tolerance: the interval straddles 1.0 however many pairs are measured
    write_suite(root, light, extra="")
    text = (root / "suite.yaml").read_text().replace("latency_samples: 20}", "latency_samples: 20, max_pairs: 300}")
    (root / "suite.yaml").write_text(text)
    (root / "old" / "suite.yaml").write_text(text)
    r = run(demo, "--aibench-against", "old", "--aibench-fail-on", "latency.p50:+0%")
    r.assert_outcomes(passed=1)
    r.stdout.fnmatch_lines(["*1 UNKNOWN (inconclusive)*", "*UNKNOWN linear*budget: max_pairs 300*inconclusive*"])
    (info,) = against_info(demo)
    assert info["outcome"] == "UNKNOWN" and info["pairs"] == 300
    r = run(demo, "--aibench-against", "old", "--aibench-fail-on", "latency.p50:+0%", "--aibench-against-unknown=fail")
    r.assert_outcomes(failed=1)


@pytest.mark.slow
def test_accuracy_of_the_reference_is_remeasured_and_compared_exactly(demo: pytest.Pytester, light: bytes) -> None:
    root = Path(demo.path)
    write_suite(root / "old", light)
    with np.load(io.BytesIO(light)) as z:
        w, b = z["w"].copy(), z["b"]
    w[:, 3] = 0.0  # a worse model: class 3 scores vanish
    buf = io.BytesIO()
    np.savez(buf, w=w, b=b)
    write_suite(root, buf.getvalue())
    r = run(demo, "--aibench-against", "old", "--aibench-fail-on", "accuracy:-0")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*accuracy:-0 REGRESSED: reference 0.9*, candidate * on the same samples*"])


@pytest.mark.slow
def test_bad_references_are_usage_errors(demo: pytest.Pytester, light: bytes) -> None:
    write_suite(Path(demo.path), light)
    r = run(demo, "--aibench-against", "nope")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--aibench-against 'nope': not a saved baseline*git:REV*"])
    r = run(demo, "--aibench-against", "git:no-such-rev")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r = run(demo, "--aibench-against", ".", "--aibench-against-python", "/no/such/python")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*no such executable interpreter*"])
    (Path(demo.path) / "junk.json").write_text("{not json")
    r = run(demo, "--aibench-against", "junk.json")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*cannot read*junk.json*"])


@pytest.mark.slow
def test_missing_or_broken_reference_artifact_is_reported_and_the_result_kept(
    demo: pytest.Pytester, light: bytes
) -> None:
    root = Path(demo.path)
    write_suite(root, light)
    run(demo).assert_outcomes(passed=1)
    shutil.move(root / "run.json", root / "base.json")
    write_suite(root, heavy_bytes(light))  # the old model is nowhere now
    r = run(demo, "--aibench-against", "base.json", "--aibench-fail-on", RULE)
    r.assert_outcomes(passed=1)
    r.stdout.fnmatch_lines(["*1 not compared*", "*NOT COMPARED linear*reference model (sha256 *) is not in*"])
    # a folder whose model does not load: the candidate's figures stand, the failure is named
    write_suite(root / "old", b"not an npz at all")
    r = run(demo, "--aibench-against", "old", "--aibench-fail-on", RULE)
    r.assert_outcomes(passed=1)
    r.stdout.fnmatch_lines(["*NOT COMPARED linear*the reference side failed*"])
    item = json.loads((root / "run.json").read_text())["items"][0]
    assert item["metrics"]["latency"]["p50_ms"] > 0


@pytest.mark.slow
def test_against_needs_compatible_options(demo: pytest.Pytester, light: bytes) -> None:
    write_suite(Path(demo.path), light)
    run(demo, "--aibench-save", "base").assert_outcomes(passed=1)
    r = run(demo, "--aibench-against", "base", "--aibench-compare", "base")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r = run(demo, "--aibench-against-python", sys.executable)
    assert r.ret == pytest.ExitCode.USAGE_ERROR
