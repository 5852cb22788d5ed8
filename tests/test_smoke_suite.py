"""The shipped smoke suite, end to end on the real runtimes, and the README staying true."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_suite_measures_real_accuracy_on_torch_and_onnxruntime(pytester):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    # a copy, so the repository's own conftest.py stays out of the inner run
    (Path(pytester.path) / "smoke").mkdir()
    (Path(pytester.path) / "smoke" / "suite.yaml").write_bytes((ROOT / "suites" / "smoke" / "suite.yaml").read_bytes())
    result = pytester.runpytest("--aibench", "smoke", "--aibench-json", "run.json", "--aibench-profile", "quick")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        ["*aibench leaderboard: smoke 1.0 (5 items: 5 passed, 0 failed, 0 skipped*", "total: VIPS *"]
    )
    doc = json.loads((Path(pytester.path) / "run.json").read_text())
    acc = {i["id"]: i["metrics"].get("accuracy") for i in doc["items"]}
    assert acc["smoke::tinycnn[torch-fp32-single]"] > 0.9
    assert acc["smoke::tinycnn[onnxruntime-fp32-single]"] > 0.9
    assert acc["smoke::tinycnn[onnxruntime-int8-single]"] > 0.9
    assert acc["smoke::tinycnn[torch-int8-single]"] > 0.9


def test_readme_starts_with_the_two_commands_and_quotes_the_example():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:sh|bash|console)\n(.*?)```", readme, re.S)
    assert "pytest --aibench suites/smoke" in commands[0]
    assert "pip install -e '.[all]'" in commands[0] and "pip install -e '.[all]'" in commands[1]
    test_cmd = commands[1].strip().splitlines()[-1]
    assert test_cmd in (ROOT / ".ci" / "run").read_text(), ".ci/run must run the README's test command"
    example = (ROOT / "tests" / "test_readme_example.py").read_text().strip()
    assert example in readme, "the README's hand-written example must be tests/test_readme_example.py verbatim"


def test_readme_documents_every_option_and_manifest_key():
    readme = (ROOT / "README.md").read_text()
    from pytest_aibench.manifest.validate import schema

    for key in schema()["properties"]:
        assert f"`{key}`" in readme, f"manifest key {key} is not documented"
    options = re.findall(r'addoption\(\s*"(--aibench[a-z-]*)"', (ROOT / "pytest_aibench" / "options.py").read_text())
    from pytest_aibench.report.formats import formats

    options += [f.option for f in formats() if f.option]
    assert len(options) > 20
    for opt in options:
        assert f"`{opt}" in readme, f"option {opt} is not in the README's options table"
    from pytest_aibench.registry import DATASETS, METRICS, PARADIGMS
    from pytest_aibench.report.formats import REPORTS
    from pytest_aibench.tasks import TASKS

    for kind, registry in (
        ("task", TASKS),
        ("metric group", METRICS),
        ("dataset source", DATASETS),
        ("paradigm", PARADIGMS),
        ("report format", REPORTS),
    ):
        for name in registry.names():
            assert f"`{name}`" in readme, f"{kind} {name} is not documented in the README"
    for suite in sorted(p.name for p in (ROOT / "suites").iterdir() if (p / "suite.yaml").is_file()):
        assert f"| `suites/{suite}` |" in readme, f"suite {suite} is missing from the README's suite table"
