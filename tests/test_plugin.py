"""End-to-end behaviour of the plugin through pytester."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import manifest


def write(p: pytest.Pytester, text: str, name: str = "suite.yaml") -> Path:
    path = Path(p.path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_items_are_real_functions_with_readable_ids(demo, linear_model):
    write(demo, manifest(linear_model[1], quantizations="[fp32, int8]"))
    items, _ = demo.inline_genitems("--aibench", "suite.yaml")
    assert [i.nodeid for i in items] == [
        "suite.yaml::linear[numpy-fp32-single]",
        "suite.yaml::linear[numpy-int8-single]",
    ]
    assert all(type(i) is pytest.Function for i in items)
    assert {m.name for m in items[0].iter_markers()} >= {"numpy", "fp32", "single", "linear", "aibench"}


def test_run_measures_accuracy_and_prints_leaderboard(demo, linear_model):
    write(demo, manifest(linear_model[1]))
    result = demo.runpytest("--aibench", "suite.yaml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*aibench leaderboard: demo 1.0 (1 items: 1 passed*",
            "*1*linear[numpy-fp32-single]*0.9*",
            "total: VIPS * (mean * over 1)*",
        ]
    )


def test_k_and_axis_markers_select_and_unrunnable_combinations_skip_with_reason(demo, linear_model):
    write(demo, manifest(linear_model[1], frameworks="[numpy, onnxruntime]", quantizations="[fp32, int8]"))
    result = demo.runpytest("--aibench", "suite.yaml", "-m", "numpy and not int8")
    result.assert_outcomes(passed=1, deselected=3)
    result = demo.runpytest("--aibench", "suite.yaml", "-k", "int8", "-rs")
    result.assert_outcomes(skipped=2, deselected=2)
    result.stdout.fnmatch_lines(
        ["*cannot make a int8 variant of the file model.npz*", "*onnxruntime cannot run .npz files*"]
    )


def test_missing_runtime_skips_with_install_hint_and_session_goes_on(demo, linear_model):
    write(demo, manifest(linear_model[1], frameworks="[ghost, numpy]"))
    result = demo.runpytest("--aibench", "suite.yaml", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*ghost is not installed (no_such_runtime_module_xyz): pip install ghost-runtime*"])


def test_gate_failure_names_metric_value_and_limit(demo, linear_model):
    write(demo, manifest(linear_model[1], gates='accuracy: ">= 0.999", latency.p99_ms: "<= 10000"'))
    result = demo.runpytest("--aibench", "suite.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*aibench gate failed: accuracy = 0.9*, required >= 0.999 (gate at suite.yaml:12)*"])
    result.stdout.no_fnmatch_line("*latency.p99_ms = *required*")


def test_bad_manifest_is_one_usage_error_listing_every_problem(demo, linear_model):
    bad = manifest(linear_model[1]).replace("    file: model.npz", "    file: model.npz\n    framworks: [numpy]")
    bad = bad.replace('version: "1.0"', "version: 1.0").replace("frameworks: [numpy]", "frameworks: [numpi]")
    write(demo, bad)
    result = demo.runpytest("--aibench", "suite.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: invalid aibench manifest",
            "3 problems in 1 manifest:",
            '  suite.yaml:2: version: expected a quoted string such as "1.0"*got a number 1.0',
            "  suite.yaml:8: models.linear.framworks: unknown key 'framworks'; expected one of: *; did you mean 'frameworks'?",
            "  suite.yaml:10: frameworks.0: unknown runner 'numpi'; known: torch, onnxruntime, litert, openvino, llama_cpp, numpy, ghost; did you mean 'numpy'?",
        ]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"- a\n- b\n",
        b"\x00\x01\x02binary",
        b"a: [1, 2\n",
        b"suite: !!python/object/apply:os.system ['echo pwned']\n",
        b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        b"g: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
    ],
    ids=["empty", "list", "binary", "syntax", "python-tag", "billion-laughs"],
)
def test_broken_yaml_is_a_usage_error(pytester, content):
    (Path(pytester.path) / "suite.yaml").write_bytes(content)
    result = pytester.runpytest("--aibench", "suite.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: invalid aibench manifest", "*suite.yaml*"])
    assert "pwned" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_run_json_and_junit_carry_metrics(demo, linear_model, tmp_path):
    path = write(demo, manifest(linear_model[1]))
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "run.json", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1)
    doc = json.loads((Path(demo.path) / "run.json").read_text())
    assert doc["machine"]["cpu"]["logical"] >= 1 and doc["machine"]["versions"]["pytest"]
    assert doc["manifests"] == [
        {
            "path": "suite.yaml",
            "suite": "demo",
            "version": "1.0",
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "cases": 1,
        }
    ]
    (item,) = doc["items"]
    assert item["id"] == "demo::linear[numpy-fp32-single]" and item["outcome"] == "passed"
    assert item["axes"] == {"model": "linear", "framework": "numpy", "quantization": "fp32", "paradigm": "single"}
    assert 0.9 < item["metrics"]["accuracy"] <= 1 and item["metrics"]["latency"]["samples"] == 20
    assert item["metrics"]["vips"] > 0 and item["metrics"]["throughput"]["ips"] > 0
    assert len(item["samples"]["latency_ns"]) == 20 and isinstance(item["seed"], int)
    assert item["dataset"]["sha256"] and item["artifact"]["sha256"] == linear_model[1]
    assert doc["suites"]["demo"]["vips_total"] == pytest.approx(item["metrics"]["vips"])
    # xunit2 (pytest's default family): on the testsuite, named with the item's node id
    props = {p.get("name"): p.get("value") for p in ET.parse(Path(demo.path) / "junit.xml").iter("property")}
    node = "suite.yaml::linear[numpy-fp32-single]"
    assert float(props[f"{node}::aibench.accuracy"]) == pytest.approx(item["metrics"]["accuracy"])
    assert f"{node}::aibench.latency.p99_ms" in props and f"{node}::aibench.vips" in props


def test_journal_keeps_finished_items_when_the_process_dies(demo, linear_model, monkeypatch):
    models = "".join(f"  {n}:\n    file: model.npz\n    sha256: {linear_model[1]}\n" for n in ("a", "b_crash", "c"))
    write(demo, manifest(linear_model[1], models=models))
    monkeypatch.setenv("AIBENCH_TEST_CRASH", "crash")
    result = demo.runpytest_subprocess("--aibench", "suite.yaml", "-p", "no:cacheprovider")
    assert result.ret != 0
    journal = Path(demo.path) / ".aibench" / "latest" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [r["type"] for r in records] == ["header", "item"]  # no footer: the run died
    assert records[1]["id"] == "demo::a[numpy-fp32-single]" and records[1]["metrics"]["accuracy"] > 0.9


@pytest.mark.slow
def test_xdist_gives_same_items_and_accuracy_and_flags_latency(demo, linear_model):
    models = "".join(f"  {n}:\n    file: model.npz\n    sha256: {linear_model[1]}\n" for n in ("a", "b", "c"))
    write(demo, manifest(linear_model[1], models=models))
    serial = demo.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "s.json")
    serial.assert_outcomes(passed=3)
    par = demo.runpytest_subprocess("--aibench", "suite.yaml", "-n", "2", "--aibench-json", "p.json")
    par.assert_outcomes(passed=3)
    par.stdout.fnmatch_lines(["*aibench leaderboard: demo*", "* latency measured while other xdist workers ran*"])
    s = {i["id"]: i for i in json.loads((Path(demo.path) / "s.json").read_text())["items"]}
    p = {i["id"]: i for i in json.loads((Path(demo.path) / "p.json").read_text())["items"]}
    assert s.keys() == p.keys()
    assert all(s[k]["metrics"]["accuracy"] == p[k]["metrics"]["accuracy"] for k in s)
    assert all(s[k]["seed"] == p[k]["seed"] for k in s)
    assert all(any(f.startswith("concurrent") for f in i["flags"]) for i in p.values())
    # a serial run is never flagged for workers; a busy host (another process) may flag it, which is no failure
    assert not any(f.startswith("concurrent") for i in s.values() for f in i["flags"])
    assert {i["worker"] for i in p.values()} <= {"gw0", "gw1"}


def test_plugin_is_inert_without_aibench(pytester):
    pytester.makepyfile(test_x="def test_x():\n    assert 1\n")
    result = pytester.run(
        __import__("sys").executable, "-X", "importtime", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_x.py"
    )
    assert result.ret == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.lines if "|" in line}
    assert any(name.startswith("pytest_aibench") for name in imported)  # the plugin is loaded ...
    heavy = {
        "torch",
        "onnxruntime",
        "ai_edge_litert",
        "tensorflow",
        "yaml",
        "jsonschema",
        "pytest_aibench.manifest",
        "pytest_aibench.zoo",
        "pytest_aibench.item",
    }
    assert not heavy & imported, heavy & imported  # ... and imports nothing heavy
    assert not (Path(pytester.path) / ".aibench").exists()


def test_conftest_fixtures_apply_to_manifest_items(demo, linear_model):
    write(demo, manifest(linear_model[1]))
    (Path(demo.path) / "conftest.py").write_text(
        (Path(demo.path) / "conftest.py").read_text()
        + """
import pytest
from pytest_aibench.sim.node import Node

@pytest.fixture
def aibench_node():
    return Node(name="pinned", threads=1)

@pytest.fixture(autouse=True)
def tag(request):
    request.node.user_properties.append(("tagged", request.node.name))
"""
    )
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json")
    result.assert_outcomes(passed=1)
    (item,) = json.loads((Path(demo.path) / "r.json").read_text())["items"]
    assert (item["node"]["name"], item["node"]["kind"], item["node"]["threads"]) == ("pinned", "host", 1)


@pytest.mark.slow
def test_seed_derives_from_run_seed_and_item_id(demo, linear_model):
    write(demo, manifest(linear_model[1]))
    seeds = []
    for args in ([], [], ["--aibench-seed", "7"]):
        demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json", *args).assert_outcomes(passed=1)
        seeds.append(json.loads((Path(demo.path) / "r.json").read_text())["items"][0]["seed"])
    assert seeds[0] == seeds[1] != seeds[2]


@pytest.mark.slow
def test_profiles_override_settings(demo, linear_model):
    write(
        demo,
        manifest(linear_model[1], extra="profiles:\n  quick: {latency_samples: 5}\n  full: {latency_samples: 40}\n"),
    )
    for profile, n in ((None, 5), ("full", 40)):
        args = ["--aibench-profile", profile] if profile else []
        demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json", *args).assert_outcomes(passed=1)
        item = json.loads((Path(demo.path) / "r.json").read_text())["items"][0]
        assert item["metrics"]["latency"]["samples"] == n and item["profile"] == (profile or "quick")
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-profile", "fulll")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'fulll' is defined in none of the manifests*did you mean 'full'?"])


@pytest.mark.slow
def test_folders_repeated_options_and_positional_tests(demo, linear_model):
    outside = "allow_outside_paths: true\n"  # the model sits one folder up
    write(
        demo,
        manifest(linear_model[1], extra=outside).replace("file: model.npz", "file: ../model.npz"),
        "one/suite.yaml",
    )
    write(
        demo,
        manifest(linear_model[1], extra=outside)
        .replace("suite: demo", "suite: two")
        .replace("file: model.npz", "file: ../model.npz"),
        "two/x.yaml",
    )
    write(demo, "not: a manifest\n", "one/data.yaml")
    demo.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = demo.runpytest("--aibench", "one", "--aibench", "two/x.yaml", "test_plain.py", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*test_plain.py::test_plain PASSED*", "*one/suite.yaml::linear*PASSED*", "*two/x.yaml::linear*PASSED*"]
    )


def test_bad_model_file_fails_only_its_item(demo, linear_model):
    models = (
        f"  good:\n    file: model.npz\n    sha256: {linear_model[1]}\n"
        f"  tampered:\n    file: model.npz\n    sha256: {'f' * 64}\n"
        f"  gone:\n    file: missing.npz\n    sha256: {linear_model[1]}\n"
    )
    write(demo, manifest(linear_model[1], models=models))
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "demo::tampered?numpy-fp32-single?: model 'tampered' artifact *model.npz has sha256 *, expected ffff*",
            "demo::gone?numpy-fp32-single?: model file *missing.npz not found",
        ]
    )
    result.stdout.fnmatch_lines(["*gone?numpy-fp32-single? * error: demo::gone*"])
    items = {i["model"]: i for i in json.loads((Path(demo.path) / "r.json").read_text())["items"]}
    assert items["good"]["outcome"] == "passed" and items["tampered"]["outcome"] == "error"
    assert "sha256" in items["tampered"]["reason"]


def test_handwritten_test_measures_into_the_same_leaderboard(demo):
    demo.makepyfile(
        test_hand="""
        import numpy as np
        import pytest

        @pytest.mark.aibench(latency_samples=10, warmup=1)
        def test_nearest_mean(aibench, aibench_dataset):
            x = aibench_dataset.x_train.reshape(len(aibench_dataset.x_train), -1)
            means = np.stack([x[aibench_dataset.y_train == c].mean(0) for c in range(10)])
            result = aibench(lambda b: -((b.reshape(len(b), -1)[:, None, :] - means) ** 2).sum(-1))
            assert result.metrics["accuracy"] > 0.85
            assert result.metrics["latency.samples"] == 10
    """
    )
    result = demo.runpytest("test_hand.py", "--aibench-json", "r.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*aibench leaderboard: test_hand.py*", "*test_nearest_mean[onnxruntime-fp32-single]*"])


def test_paths_cannot_leave_the_suite_folder_unless_allowed(demo, linear_model):
    text = manifest(linear_model[1]).replace("file: model.npz", "file: ../../etc/passwd")
    text = text.replace(
        "  digits: {source: digits, split_seed: 0}",
        "  digits: {source: digits, split_seed: 0}\n  mine: {source: npz, path: /etc/hostname}",
    )
    write(demo, text.replace("models:\n  linear:", "models:\n  linear:\n    dataset: digits"), "sub/suite.yaml")
    result = demo.runpytest("--aibench", "sub/suite.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*datasets.mine.path: path '/etc/hostname' leaves the suite's folder sub; set 'allow_outside_paths: true'*",
            "*models.linear.file: path '../../etc/passwd' leaves the suite's folder*",
        ]
    )


def test_help_lists_every_aibench_option(pytester):
    # argparse expands %-formats in help texts: one bare "%" in a help string breaks `pytest --help`
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0, result.stderr.str()[-500:]
    result.stdout.fnmatch_lines(["*--aibench=PATH*", "*--aibench-fail-on=RULES*", "*latency.p99:+10%,accuracy:-0.005*"])


def test_manifests_typed_after_the_first_join_it_and_test_files_stay_tests(pytester: pytest.Pytester) -> None:
    """``pytest --aibench a.yaml b/ test_x.py``: b's manifests run too; test_x.py stays a test file."""
    for folder in ("a", "b"):
        (Path(pytester.path) / folder).mkdir()
        (Path(pytester.path) / folder / "suite.yaml").write_text(
            f'suite: {folder}\nversion: "1.0"\ndatasets: {{digits: {{source: digits}}}}\n'
            "models: {tiny: {zoo: tinycnn-digits}}\nframeworks: [onnxruntime]\n"
        )
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    r = pytester.runpytest(
        "--aibench", "a/suite.yaml", "b", "test_x.py", "--collect-only", "-q", "-p", "no:cacheprovider"
    )
    out = r.stdout.str()
    assert "a/suite.yaml::tiny[onnxruntime-fp32-single]" in out and "b/suite.yaml::tiny[onnxruntime-fp32-single]" in out
    assert "test_x.py::test_x" in out
