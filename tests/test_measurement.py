"""Measurement: LoadGen scenarios end to end, its log parsing, statistics, energy (RAPL and model),
warm-up policies and per-item memory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import manifest
from pytest_aibench.measure import energy, loadgen
from pytest_aibench.measure.memory import peak_rss_mb, reset_peak
from pytest_aibench.measure.stats import bootstrap_ci, outliers, robustness
from pytest_aibench.measure.timing import warm_up

DETAIL = """\
:::MLLOG {"key": "result_validity", "value": "INVALID", "time_ms": 1}
:::MLLOG {"key": "result_min_duration_met", "value": true, "time_ms": 1}
:::MLLOG {"key": "result_perf_constraints_met", "value": false, "time_ms": 1}
:::MLLOG {"key": "result_invalid_reason", "value": "", "time_ms": 1}
:::MLLOG {"key": "early_stopping_result", "value": " * Processed at least 64 queries (6001). * Early stopping 90.0th percentile estimate: 26917 * Early stopping 99.0th percentile estimate: 38075", "time_ms": 1}
:::MLLOG {"key": "result_completed_samples_per_sec", "value": 188.309, "time_ms": 1}
:::MLLOG {"key": "result_scheduled_samples_per_sec", "value": 188.377, "time_ms": 1}
:::MLLOG {"key": "result_query_count", "value": 58, "time_ms": 1}
:::MLLOG {"key": "result_50.00_percentile_latency_ns", "value": 125663, "time_ms": 1}
:::MLLOG {"key": "result_99.00_percentile_latency_ns", "value": 276487, "time_ms": 1}
:::MLLOG {"key": "result_99.90_percentile_latency_ns", "value": 276487, "time_ms": 1}
not a log line
"""


def test_loadgen_detail_log_parses_to_metrics(tmp_path):
    (tmp_path / "d.txt").write_text(DETAIL)
    m = loadgen.results(loadgen.parse_detail(tmp_path / "d.txt"))
    assert m["loadgen.result"] == "INVALID" and m["loadgen.valid"] is False
    assert m["loadgen.invalid_reason"] == "not met: perf_constraints"
    assert m["loadgen.p50_ms"] == 0.125663 and m["loadgen.p99_9_ms"] == 0.276487
    assert m["loadgen.early_stopping_p90_ms"] == 0.026917 and m["loadgen.early_stopping_p99_ms"] == 0.038075
    assert m["loadgen.samples_per_s"] == 188.309 and m["loadgen.server_scheduled_qps"] == 188.377
    assert m["loadgen.queries"] == 58


def test_loadgen_accuracy_log_gives_predictions_per_sample(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"seq_id": 0, "qsl_idx": 2, "data": "07000000"},
                                                 {"seq_id": 1, "qsl_idx": 0, "data": "03000000"}]))
    assert loadgen.parse_accuracy(tmp_path / "a.json", 3).tolist() == [3, -1, 7]


def test_peak_search_doubles_then_bisects():
    tried = []

    def valid(qps):
        tried.append(qps)
        return qps <= 700

    assert loadgen.find_peak(valid, 100, True, steps=6) == pytest.approx(700, rel=0.1)
    assert tried[:3] == [200, 400, 800]


SCENARIO_SUITE = 'scenarios: [single_stream, multi_stream, server, offline]\nsettings: {min_duration_ms: 300, min_query_count: 100, warmup: 2}\n'


def test_scenarios_run_under_loadgen_with_logs_and_accuracy(demo, linear_model):
    pytest.importorskip("mlperf_loadgen")
    demo.path.joinpath("suite.yaml").write_text(
        manifest(linear_model[1]).replace("settings: {warmup: 2, latency_samples: 20}\n", "") + SCENARIO_SUITE)
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json", "-k", "server or offline or stream")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*LoadGen*LG p99 ms*", "*energy method: model*"])
    items = {i["axes"]["scenario"]: i for i in json.loads((Path(demo.path) / "r.json").read_text())["items"]}
    assert set(items) == {"single_stream", "multi_stream", "server", "offline"}
    for scenario, item in items.items():
        lg = item["metrics"]["loadgen"]
        assert lg["result"] in ("VALID", "INVALID") and lg["accuracy"] > 0.9, scenario
        assert item["metrics"]["accuracy"] == lg["accuracy"]  # scored from LoadGen's logged responses
        logs = Path(item["info"]["loadgen"]["logs"])
        assert (logs / "performance" / "mlperf_log_detail.txt").exists()
        assert (logs / "accuracy" / "mlperf_log_accuracy.json").exists()
        assert item["metrics"]["energy"]["method"] == "model" and item["metrics"]["latency"]["p99_ci_high_ms"] > 0
    assert items["server"]["metrics"]["loadgen"]["server_target_qps"] > 0
    assert items["multi_stream"]["metrics"]["latency"]["batch"] == 8


def test_require_valid_fails_an_invalid_run_and_otherwise_shows_it(demo, linear_model):
    pytest.importorskip("mlperf_loadgen")
    # an impossible bound: every server run is INVALID
    text = manifest(linear_model[1]).replace("settings: {warmup: 2, latency_samples: 20}\n", "") + \
        "scenarios: [server]\nsettings: {min_duration_ms: 200, min_query_count: 50, server_latency_ms: 0.000001, warmup: 1}\n"
    demo.path.joinpath("suite.yaml").write_text(text)
    shown = demo.runpytest("--aibench", "suite.yaml")
    shown.assert_outcomes(passed=1)
    shown.stdout.fnmatch_lines(["*INVALID*"])
    demo.path.joinpath("suite.yaml").write_text(text.replace("warmup: 1}", "warmup: 1, require_valid: true}"))
    failed = demo.runpytest("--aibench", "suite.yaml")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*LoadGen result INVALID*require_valid is set; logs: *loadgen*"])


def test_without_loadgen_scenarios_skip_with_a_hint_and_builtin_loops_run(demo, linear_model, monkeypatch):
    monkeypatch.setattr(loadgen, "available", lambda: False)
    demo.path.joinpath("suite.yaml").write_text(manifest(linear_model[1]) + "scenarios: [server]\n")
    demo.path.joinpath("plain.yaml").write_text(manifest(linear_model[1]).replace("suite: demo", "suite: plain"))
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench", "plain.yaml", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*MLPerf LoadGen is not installed: pip install 'pytest-aibench?loadgen?'*"])


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    samples = list(rng.lognormal(0, 0.3, 400))
    lo, hi = bootstrap_ci(samples, 50, seed=3)
    assert lo <= sorted(samples)[199] <= hi and (lo, hi) == bootstrap_ci(samples, 50, seed=3)
    lo99, hi99 = bootstrap_ci(samples, 99)
    assert lo99 < hi99 and hi - lo < hi99 - lo99  # the tail is less certain than the median
    assert outliers([1, 1, 1, 1, 1, 1, 50]) == 1
    r = robustness([1_000_000] * 50 + [2_000_000] * 50)
    assert 0.3 < r["latency.cv"] < 0.4 and r["latency.p50_ci_low_ms"] >= 1.0


def fake_powercap(root: Path, package_uj: int, dram_uj: int, max_uj: int = 2**32) -> None:
    for zone, name, value in (("intel-rapl:0", "package-0", package_uj), ("intel-rapl:0:1", "dram", dram_uj),
                              ("intel-rapl:0:0", "core", 5)):
        (root / zone).mkdir(parents=True, exist_ok=True)
        (root / zone / "name").write_text(name + "\n")
        (root / zone / "energy_uj").write_text(f"{value}\n")
        (root / zone / "max_energy_range_uj").write_text(f"{max_uj}\n")


def test_rapl_counters_give_joules_with_wraparound(tmp_path):
    fake_powercap(tmp_path, package_uj=2**32 - 1_000_000, dram_uj=10_000_000)
    with energy.EnergyMeter(root=tmp_path) as meter:
        fake_powercap(tmp_path, package_uj=2_000_000, dram_uj=10_500_000)  # package wrapped around
    out = meter.result(inferences=100)
    assert out["energy.method"] == "rapl"
    assert out["energy.rapl_package_0_j"] == pytest.approx(3.0) and out["energy.rapl_dram_j"] == pytest.approx(0.5)
    assert out["energy.joules"] == pytest.approx(3.5) and out["energy.j_per_inference"] == pytest.approx(0.035)
    assert "core" not in str(out)  # sub-zones are inside the package figure


def test_unreadable_rapl_falls_back_to_the_labelled_power_model(tmp_path):
    with energy.EnergyMeter(idle_w=2.0, max_w=10.0, cores=1, root=tmp_path) as meter:
        end = __import__("time").perf_counter() + 0.05
        while __import__("time").perf_counter() < end:
            pass  # busy: utilisation near 1
    out = meter.result(inferences=10)
    assert out["energy.method"] == "model" and 0.0 < out["energy.utilization"] <= 1.0
    assert out["energy.watts"] == pytest.approx(2.0 + 8.0 * out["energy.utilization"])
    assert out["energy.ips_per_w"] == pytest.approx(10 / out["energy.seconds"] / out["energy.watts"])


def test_rapl_path_end_to_end_with_a_fake_tree(demo, linear_model, tmp_path, monkeypatch):
    fake_powercap(tmp_path, 1_000, 1_000)
    monkeypatch.setenv("AIBENCH_POWERCAP_ROOT", str(tmp_path))
    demo.path.joinpath("suite.yaml").write_text(manifest(linear_model[1]))
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json").assert_outcomes(passed=1)
    (item,) = json.loads((Path(demo.path) / "r.json").read_text())["items"]
    assert item["metrics"]["energy"]["method"] == "rapl"


def test_warmup_policies_are_explicit():
    calls = []
    assert warm_up(calls.append, [1], 7) == {"policy": "count", "calls": 7} and len(calls) == 7
    done = warm_up(lambda x: None, [1], "stable")
    assert done["policy"] == "stable" and done["stable"] is True and done["calls"] >= 40


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's resettable VmHWM")
def test_peak_memory_is_per_item():
    block = np.ones(40_000_000)  # 305 MiB
    high = peak_rss_mb()
    del block
    assert reset_peak() and peak_rss_mb() < high - 200


def test_memory_gate_bounds_an_item(demo, linear_model):
    demo.path.joinpath("suite.yaml").write_text(manifest(linear_model[1], gates='memory.peak_rss_mb: "<= 1"'))
    result = demo.runpytest("--aibench", "suite.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*gate failed: memory.peak_rss_mb = *, required <= 1*"])
