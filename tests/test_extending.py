"""The README's "Extending" examples, installed exactly as written: a runtime, a metric group, a paradigm and
a report format, each one file, registered by entry points alone (a ``dist-info`` on ``PYTHONPATH``), run
on the smoke suite's ONNX models."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.slow  # subprocesses: a pytest run and an aibench report


def _files() -> dict[str, str]:
    """``# file: NAME`` blocks of the README's Extending section."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Extending") : text.index("## Performance of the plugin itself")]
    blocks = re.findall(r"```(?:python|ini)\n# file: (\S+)\n(.*?)```", section, re.S)
    return {name: body for name, body in blocks}


def _install(folder: Path) -> dict[str, str]:
    files = _files()
    assert set(files) == {
        "ortlite_runner.py",
        "top3_metric.py",
        "noisy_paradigm.py",
        "outcomes_report.py",
        "ece_task.py",
        "entry_points.txt",
    }
    dist = folder / "aibench_extending-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: aibench-extending\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(files.pop("entry_points.txt"))
    for name, body in files.items():
        (folder / name).write_text(body)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def test_the_readme_extensions_run_the_smoke_suites_onnx_models(tmp_path: Path) -> None:
    env = _install(tmp_path / "site")
    suite = (ROOT / "suites" / "smoke" / "suite.yaml").read_text()
    suite = suite.replace("frameworks: [torch, onnxruntime]", "frameworks: [ortlite]")
    suite = suite.replace("paradigms: [single]", "paradigms: [single, noisy]\nparams:\n  noisy: {sigma: 0.5}")
    suite = re.sub(r"matrix:\n(  .*\n)+", "", suite)
    suite = suite.replace(
        "metrics: [accuracy, latency, throughput, vips, memory]", "metrics: [accuracy, latency, top3]"
    )
    suite = suite.replace('  accuracy: ">= 0.9"', '  accuracy: ">= 0.9"\n  top3.accuracy: ">= 0.9"')
    # the same model judged by the README's task: a second model entry, gated on the task's own metric
    suite = suite.replace(
        "models:\n", 'models:\n  calibrated: {zoo: tinycnn-digits, task: ece, gates: {ece.error: "<= 0.2"}}\n', 1
    )
    work = tmp_path / "run"
    work.mkdir()
    (work / "suite.yaml").write_text(suite)
    shutil.copytree(ROOT / "suites" / "smoke", work / "unused", ignore=lambda *_: ["suite.yaml"])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--aibench",
            "suite.yaml",
            "--aibench-profile",
            "quick",
            "-o",
            "addopts=",
            "--aibench-json",
            "run.json",
            "--aibench-outcomes",
            "outcomes.txt",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    items = {i["id"]: i for i in json.loads((work / "run.json").read_text())["items"]}
    fp32, noisy = items["smoke::tinycnn[ortlite-fp32-single]"], items["smoke::tinycnn[ortlite-fp32-noisy]"]
    assert fp32["metrics"]["accuracy"] >= 0.9 and fp32["metrics"]["top3"]["accuracy"] >= fp32["metrics"]["accuracy"]
    assert fp32["artifact"]["path"].endswith("model.onnx")  # the onnxruntime-built ONNX file, found by its format
    assert items["smoke::tinycnn[ortlite-int8-single]"]["artifact"]["path"].endswith("model.int8.onnx")
    assert 0 <= noisy["metrics"]["noise"]["accuracy"] < noisy["metrics"]["accuracy"]
    assert "top-3" in run.stdout  # the metric's declared column in the leaderboard
    ece = items["smoke::calibrated[ortlite-fp32-single]"]
    assert 0 <= ece["metrics"]["ece"]["error"] <= 0.2 and ece["info"]["task"]["name"] == "ece"
    assert "accuracy" not in ece["metrics"] and "ece: ranked by ece.error" in run.stdout
    assert (work / "outcomes.txt").read_text().count("passed smoke::tinycnn[ortlite-") == 4
    report = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_aibench.cli import main; raise SystemExit(main())",
            "report",
            "run.json",
            "--outcomes",
            "again.txt",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    assert (work / "again.txt").read_text() == (work / "outcomes.txt").read_text()


def test_a_typo_in_the_extension_paradigms_parameter_is_refused_with_its_name(tmp_path: Path) -> None:
    env = _install(tmp_path / "site")
    (tmp_path / "suite.yaml").write_text(
        'suite: s\nversion: "1"\ndatasets:\n  digits: {source: digits, split_seed: 0}\nmodels:\n'
        "  m: {zoo: tinycnn-digits}\nframeworks: [ortlite]\nparadigms: [noisy]\nparams:\n  noisy: {sigam: 0.5}\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--aibench", "suite.yaml", "--collect-only"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 4
    assert "suite.yaml:10" in run.stderr and "did you mean 'sigma'?" in run.stderr
