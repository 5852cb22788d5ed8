"""Reliability: crash isolation, timeouts, resume after SIGKILL, repeats and prediction hashes,
the factory key, and seeds that hold across runs and xdist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import manifest


def models(linear_model, names):
    return "".join(f"  {n}:\n    file: model.npz\n    sha256: {linear_model[1]}\n" for n in names)


def write(demo, linear_model, names, extra=""):
    demo.path.joinpath("suite.yaml").write_text(
        manifest(linear_model[1], models=models(linear_model, names), extra=extra)
    )


def items(demo, name="r.json"):
    return {i["model"]: i for i in json.loads((Path(demo.path) / name).read_text())["items"]}


def test_isolated_abort_fails_only_its_item_naming_the_signal(demo, linear_model):
    write(demo, linear_model, ["a", "b_abort", "c"])
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-isolate", "--aibench-json", "r.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*demo::b_abort?numpy-fp32-single?: the runtime crashed in its isolated process: killed by SIGABRT (6)*"]
    )
    got = items(demo)
    assert got["a"]["metrics"]["accuracy"] > 0.9 and got["c"]["runner"]["isolated"] == "child process"
    assert "SIGABRT" in got["b_abort"]["reason"]


@pytest.mark.slow
def test_isolation_holds_under_xdist(demo, linear_model):
    write(demo, linear_model, ["a", "b_abort", "c", "d"])
    result = demo.runpytest_subprocess(
        "--aibench", "suite.yaml", "--aibench-isolate", "-n", "2", "--aibench-json", "r.json"
    )
    result.assert_outcomes(passed=3, failed=1)
    assert sorted(m for m, i in items(demo).items() if i["outcome"] == "passed") == ["a", "c", "d"]


@pytest.mark.slow
def test_timeout_ends_a_hung_item_and_the_run_goes_on(demo, linear_model):
    write(demo, linear_model, ["a", "hang"], extra="timeout: 60\n")
    result = demo.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-timeout", "4")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*demo::hang?numpy-fp32-single?: timed out after 4 s; its process was killed*"])


@pytest.mark.slow
def test_resume_after_sigkill_runs_only_what_is_missing_and_gives_the_same_leaderboard(demo, linear_model, monkeypatch):
    names = ["a", "b", "c_kill", "d"]
    write(demo, linear_model, names)
    full = demo.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "full.json", "--aibench-out", "full")
    full.assert_outcomes(passed=4)
    monkeypatch.setenv("AIBENCH_TEST_SIGKILL", "c_kill")
    killed = demo.runpytest_subprocess("--aibench", "suite.yaml", "-p", "no:randomly")
    assert killed.ret == -9 or killed.ret == 137 or "Killed" in killed.stderr.str() or killed.ret != 0
    journal = Path(demo.path) / ".aibench" / "latest" / "journal.jsonl"
    done = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [r.get("model") for r in done if r["type"] == "item"] == ["a", "b"]
    monkeypatch.delenv("AIBENCH_TEST_SIGKILL")
    resumed = demo.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-resume", "--aibench-json", "r.json", "-v")
    resumed.assert_outcomes(passed=2, deselected=2)
    resumed.stdout.fnmatch_lines(["*c_kill*PASSED*", "*d*PASSED*"])
    resumed.stdout.fnmatch_lines(["*aibench leaderboard: demo 1.0 (4 items: 4 passed*"])
    after, before = items(demo), items(demo, "full.json")
    assert after.keys() == before.keys()
    assert {m: i["metrics"]["accuracy"] for m, i in after.items()} == {
        m: i["metrics"]["accuracy"] for m, i in before.items()
    }
    assert {i["id"] for i in after.values()} == {i["id"] for i in before.values()}


@pytest.mark.slow
def test_repeat_reports_bit_identical_predictions(demo, linear_model):
    write(demo, linear_model, ["a"])
    demo.runpytest("--aibench", "suite.yaml", "--aibench-repeat", "3", "--aibench-json", "r.json").assert_outcomes(
        passed=1
    )
    item = items(demo)["a"]
    assert item["metrics"]["repro"] == {"repeats": 3, "identical": True}
    hashes = item["info"]["repro"]["prediction_hashes"]
    assert len(hashes) == 3 and len(set(hashes)) == 1 and hashes[0] == item["info"]["prediction_hash"]
    assert "determinism" in item["info"]


@pytest.mark.slow
def test_same_seed_same_prediction_hash_across_runs_and_xdist(demo, linear_model):
    write(demo, linear_model, ["a", "b", "c"])
    demo.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "s1.json").assert_outcomes(passed=3)
    demo.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "s2.json").assert_outcomes(passed=3)
    demo.runpytest_subprocess("--aibench", "suite.yaml", "-n", "2", "--aibench-json", "p.json").assert_outcomes(
        passed=3
    )
    runs = [
        {m: (i["seed"], i["info"]["prediction_hash"]) for m, i in items(demo, f).items()}
        for f in ("s1.json", "s2.json", "p.json")
    ]
    assert runs[0] == runs[1] == runs[2]


@pytest.mark.slow
def test_factory_is_the_one_key_that_imports_code(pytester):
    torch = pytest.importorskip("torch")
    import hashlib

    from pytest_aibench.zoo.cards import find_card

    weights = (find_card("tinycnn-digits").folder / "model.pt").read_bytes()
    (Path(pytester.path) / "weights.pt").write_bytes(weights)
    pytester.makepyfile(
        my_models="from pytest_aibench.zoo.tinycnn import build\n\ndef tiny():\n    return build(width=16)\n"
    )
    sha = hashlib.sha256(weights).hexdigest()
    (Path(pytester.path) / "suite.yaml").write_text(
        "suite: f\nversion: '1'\ndatasets:\n  digits: {source: digits}\nmodels:\n"
        f"  tiny:\n    factory: 'my_models:tiny'\n    file: weights.pt\n    sha256: {sha}\n"
        "frameworks: [torch, onnxruntime]\nsettings: {latency_samples: 5, warmup: 1}\n"
    )
    result = pytester.runpytest_subprocess("--aibench", "suite.yaml", "-rs", "--aibench-json", "r.json")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*onnxruntime cannot run a torch factory model (my_models:tiny); only torch can*"])
    (item,) = [i for i in json.loads((Path(pytester.path) / "r.json").read_text())["items"] if i["outcome"] == "passed"]
    assert item["metrics"]["accuracy"] > 0.9
    _ = torch


@pytest.mark.slow
def test_bundle_verify_and_rerun(demo, linear_model, capsys, monkeypatch):
    import io
    import tarfile

    from pytest_aibench.cli import main as aibench

    write(demo, linear_model, ["a", "b"])
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json").assert_outcomes(passed=2)
    d = Path(demo.path)
    assert aibench(["bundle", str(d / "r.json"), "-o", str(d / "b.tar.gz"), "--root", str(d)]) == 0
    with tarfile.open(d / "b.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"run.json", "hashes.json", "environment.json", "manifests/suite.yaml", "SHA256SUMS"} <= names
    assert aibench(["verify", str(d / "b.tar.gz")]) == 0
    assert "OK: 5 files, 0 problems" in capsys.readouterr().out

    with tarfile.open(d / "b.tar.gz") as src, tarfile.open(d / "tampered.tar.gz", "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name == "run.json":
                data = data.replace(b'"passed"', b'"failed"', 1)
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    assert aibench(["verify", str(d / "tampered.tar.gz")]) == 1
    assert "run.json: sha256 differs from SHA256SUMS" in capsys.readouterr().out

    monkeypatch.chdir(d)
    assert aibench(["rerun", str(d / "b.tar.gz"), "--root", str(d), "--tolerance", "10"]) == 0
    assert "2 items rerun; accuracy (or each task's headline) must match exactly" in capsys.readouterr().out

    # a bundle of one item of two re-measures that one item only
    first = json.loads((d / "r.json").read_text())["items"][0]["id"]
    (d / "one.txt").write_text(first + "\n")
    demo.runpytest(
        "--aibench", "suite.yaml", "--aibench-items", "one.txt", "--aibench-json", "one.json"
    ).assert_outcomes(passed=1)
    assert aibench(["bundle", str(d / "one.json"), "-o", str(d / "one.tar.gz"), "--root", str(d)]) == 0
    capsys.readouterr()
    assert aibench(["rerun", str(d / "one.tar.gz"), "--root", str(d), "--tolerance", "10"]) == 0
    out = capsys.readouterr().out
    assert "1 items rerun" in out and "the bundle does not hold" not in out

    (d / "model.npz").write_bytes(b"something else")
    assert aibench(["verify", str(d / "b.tar.gz")]) == 1
    assert "the run used" in capsys.readouterr().out


@pytest.mark.slow
def test_resuming_a_finished_run_succeeds_with_its_leaderboard(demo, linear_model):
    write(demo, linear_model, ["a", "b"])
    demo.runpytest("--aibench", "suite.yaml").assert_outcomes(passed=2)
    again = demo.runpytest("--aibench", "suite.yaml", "--aibench-resume")
    assert again.ret == 0
    again.assert_outcomes(deselected=2)
    again.stdout.fnmatch_lines(["*aibench leaderboard: demo 1.0 (2 items: 2 passed*"])
