"""Exports as their consumers compute them: pytest-benchmark's statistics and machine_info."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import manifest
from pytest_aibench.machine import machine_info as run_machine
from pytest_aibench.report.exports import _stats, benchmark_json, machine_info

pb_stats = pytest.importorskip("pytest_benchmark.stats")
pb_plugin = pytest.importorskip("pytest_benchmark.plugin")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=60))
def test_stats_are_pytest_benchmarks_own(ns: list[int]) -> None:
    ours = _stats(ns)
    theirs = pb_stats.Stats()
    for v in ns:
        theirs.update(v / 1e9)
    for field in theirs.fields:
        want = getattr(theirs, field)
        assert (
            ours[field] == pytest.approx(want, rel=1e-12, abs=1e-15) if isinstance(want, float) else ours[field] == want
        ), field
    assert ours["data"] == [v / 1e9 for v in ns]


def test_machine_info_is_what_pytest_benchmark_fills_in() -> None:
    ours = machine_info(run_machine(Path.cwd()))
    theirs = pb_plugin.pytest_benchmark_generate_machine_info()
    for key in (
        "node",
        "processor",
        "machine",
        "python_implementation",
        "python_version",
        "system",
        "release",
        "python_compiler",
    ):
        assert ours[key] == theirs[key], key
    assert ours["cpu"].get("brand_raw") == theirs["cpu"].get("brand_raw")
    assert ours["processor"] == platform.processor()


def test_machine_info_is_the_runs_not_the_reporting_machines() -> None:
    """A run measured elsewhere keeps its machine when reported here, and a merged run keeps its first."""
    elsewhere = {
        "node": "vendor-box",
        "machine": "aarch64",
        "system": "Linux",
        "release": "6.1",
        "cpu": {"model": "Neoverse-V2", "logical": 72, "isa": ["asimd", "sve2"]},
        "python": {"version": "3.12.1", "implementation": "CPython"},
    }
    got = benchmark_json({"machine": elsewhere}, [])["machine_info"]
    assert (got["node"], got["machine"], got["cpu"]["brand_raw"], got["cpu"]["count"]) == (
        "vendor-box",
        "aarch64",
        "Neoverse-V2",
        72,
    )
    merged = benchmark_json({"machine": {"machines": {"vendor-box": elsewhere}}}, [])["machine_info"]
    assert merged["node"] == "vendor-box" and platform.node() != "vendor-box"


def test_the_export_carries_raw_data_and_valid_options(demo: pytest.Pytester, linear_model: tuple[bytes, str]) -> None:
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    demo.runpytest("--aibench", "suite.yaml", "--aibench-benchmark-json", "pb.json").assert_outcomes(passed=1)
    (bench,) = json.loads((Path(demo.path) / "pb.json").read_text())["benchmarks"]
    assert len(bench["stats"]["data"]) == bench["stats"]["rounds"] == 20
    assert bench["options"]["timer"] == "perf_counter" and isinstance(bench["options"]["warmup"], bool)


def _extract_custom(text: str) -> list[dict]:
    """github-action-benchmark's extractCustomBenchmarkResult (src/extract.ts), then what its charts
    and alert comparison need: a string name and unit and a numeric value per entry."""
    entries = json.loads(text)
    assert isinstance(entries, list)
    out = [{k: e.get(k) for k in ("name", "value", "unit", "range", "extra")} for e in entries]
    for e in out:
        assert isinstance(e["name"], str) and isinstance(e["unit"], str)
        assert isinstance(e["value"], (int, float)) and not isinstance(e["value"], bool)
        assert e["range"] is None or isinstance(e["range"], str)
        assert e["extra"] is None or isinstance(e["extra"], str)
    assert len({e["name"] for e in out}) == len(out), "names key the history: they must be unique"
    return out


def _read_bmf(text: str) -> dict:
    """Bencher's metric format: {benchmark: {measure slug: {value, lower_value?, upper_value?}}}."""
    doc = json.loads(text)
    assert isinstance(doc, dict)
    for bench, measures in doc.items():
        assert isinstance(bench, str) and isinstance(measures, dict) and measures
        for slug, m in measures.items():
            assert slug == slug.lower() and " " not in slug
            assert set(m) <= {"value", "lower_value", "upper_value"} and isinstance(m["value"], float)
            if "lower_value" in m:
                assert m["lower_value"] <= m["value"] <= m["upper_value"]
    return doc


def test_continuous_benchmarking_exports_read_by_their_consumers_rules(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    demo.runpytest(
        "--aibench",
        "suite.yaml",
        "--aibench-json",
        "r.json",
        "--aibench-gha-json",
        "gha.json",
        "--aibench-bmf",
        "bmf.json",
    ).assert_outcomes(passed=1)
    root = Path(demo.path)
    (item,) = json.loads((root / "r.json").read_text())["items"]
    gated = {e["name"]: e for e in _extract_custom((root / "gha.json").read_text())}
    bigger = {e["name"]: e for e in _extract_custom((root / "gha.bigger.json").read_text())}
    extras = {e["name"]: e for e in _extract_custom((root / "gha.extras.json").read_text())}
    base = "demo linear[numpy-fp32-single]"
    lat = item["metrics"]["latency"]
    # unpaired: the median (with its CI) and top-1 error, then the tail and one-pass figure named as extras
    assert set(gated) == {
        f"{base} p50 latency",
        f"{base} top-1 error (1 - accuracy)",
        f"{base} p99 latency (extra: tail)",
        f"{base} time per item (extra: 1 / throughput of one pass)",
    }
    assert gated[f"{base} p50 latency"]["value"] == lat["p50_ms"]
    assert (
        gated[f"{base} p50 latency"]["range"]
        == f"[{lat['p50_ci_low_ms']:.4g}, {lat['p50_ci_high_ms']:.4g}] ms (95 % CI)"
    )
    assert gated[f"{base} top-1 error (1 - accuracy)"]["value"] == pytest.approx(1 - item["metrics"]["accuracy"])
    assert set(bigger) == {f"{base} accuracy"} and bigger[f"{base} accuracy"]["value"] == item["metrics"]["accuracy"]
    assert gated[f"{base} p99 latency (extra: tail)"]["value"] == lat["p99_ms"] and not extras
    bmf = _read_bmf((root / "bmf.json").read_text())
    measures = bmf[item["id"]]
    # each measure's bounds are its own confidence interval, the figures they are named for
    assert measures["latency"] == {
        "value": pytest.approx(lat["p50_ms"] * 1e6),
        "lower_value": pytest.approx(lat["p50_ci_low_ms"] * 1e6),
        "upper_value": pytest.approx(lat["p50_ci_high_ms"] * 1e6),
    }
    assert measures["latency-p99"]["value"] == pytest.approx(lat["p99_ms"] * 1e6)
    assert measures["latency-p99"]["upper_value"] == pytest.approx(lat["p99_ci_high_ms"] * 1e6)
    assert {"latency", "latency-p99", "throughput", "accuracy"} <= set(measures) and "failed" not in measures


def test_failed_and_invalid_items_are_marked_in_the_ci_exports_not_dropped() -> None:
    from pytest_aibench.core.result import Result
    from pytest_aibench.report.exports import bmf_json, gha_json

    failed = Result(
        id="s::a[ort]",
        suite="s",
        model="a",
        axes={},
        outcome="failed",
        reason="gate accuracy >= 0.9: 0.42\nmore",
        metrics={"accuracy": 0.42, "latency.p50_ms": 2.0},
    )
    invalid = Result(
        id="s::b[ort]",
        suite="s",
        model="b",
        axes={},
        metrics={
            "latency.p50_ms": 3.0,
            "loadgen.valid": False,
            "loadgen.invalid_reason": "latency constraint: p99 9 ms",
        },
    )
    gated, bigger, _ = gha_json([failed, invalid])
    extra = {e["name"]: e.get("extra") or "" for e in gated + bigger}
    assert any(n.startswith("s a") and "FAILED: gate accuracy >= 0.9: 0.42" in x for n, x in extra.items())
    assert any(n.startswith("s b") and "LoadGen INVALID: latency constraint" in x for n, x in extra.items())
    bmf = bmf_json([failed, invalid])
    assert bmf["s::a[ort]"]["failed"] == {"value": 1.0} and bmf["s::b[ort]"]["loadgen-invalid"] == {"value": 1.0}
    assert bmf["s::a[ort]"]["accuracy"] == {"value": 0.42}


XSD = Path(__file__).parent / "data" / "junit-10.xsd"  # pytest's own schema for xunit2 (testing/example_scripts)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("-n", "2")])
def test_junit_xunit2_validates_against_pytests_schema_with_the_metrics_on_the_testsuite(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], extra: tuple[str, ...]
) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    import xml.etree.ElementTree as ET

    models = "".join(f"  {n}:\n    file: model.npz\n    sha256: {linear_model[1]}\n" for n in ("a", "b"))
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], models=models))
    demo.runpytest_subprocess(
        "--aibench", "suite.yaml", "--junitxml", "j.xml", "-o", "junit_family=xunit2", *extra
    ).assert_outcomes(passed=2)
    xmlschema.XMLSchema(str(XSD)).validate(str(Path(demo.path) / "j.xml"))
    tree = ET.parse(Path(demo.path) / "j.xml")
    assert all(not tc.findall("properties") for tc in tree.iter("testcase"))
    names = {p.get("name") for p in tree.iter("property")}
    for model in ("a", "b"):
        assert f"suite.yaml::{model}[numpy-fp32-single]::aibench.accuracy" in names


def test_junit_xunit1_keeps_the_metrics_in_each_testcase(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    import xml.etree.ElementTree as ET

    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    demo.runpytest("--aibench", "suite.yaml", "--junitxml", "j.xml", "-o", "junit_family=xunit1").assert_outcomes(
        passed=1
    )
    (tc,) = ET.parse(Path(demo.path) / "j.xml").iter("testcase")
    assert {p.get("name") for p in tc.iter("property")} >= {"aibench.accuracy", "aibench.latency.p50_ms"}
    # file and line point at the model in the manifest (0-based, pytest's convention), not at the plugin
    lines = (Path(demo.path) / "suite.yaml").read_text().splitlines()
    assert tc.get("file") == "suite.yaml" and lines[int(tc.get("line"))] == "  linear:"
