"""Measurement: LoadGen scenarios end to end, its log parsing, statistics, energy (RAPL and model),
warm-up policies and per-item memory."""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import manifest
from pytest_aibench.measure import energy, loadgen
from pytest_aibench.measure.memory import peak_rss_mb, reset_peak
from pytest_aibench.measure.stats import bootstrap_ci, outliers, robustness
from pytest_aibench.measure.timing import SETTLE_MAX_CALLS, SETTLE_S, settle, warm_up

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
    assert m["loadgen.failed"] == "latency_constraint"
    assert m["loadgen.invalid_reason"] == "latency constraint: p99 0.2765 ms over the bound"
    assert m["loadgen.p50_ms"] == 0.125663 and m["loadgen.p99_9_ms"] == 0.276487
    assert m["loadgen.early_stopping_p90_ms"] == 0.026917 and m["loadgen.early_stopping_p99_ms"] == 0.038075
    assert m["loadgen.samples_per_s"] == 188.309 and m["loadgen.server_scheduled_qps"] == 188.377
    assert m["loadgen.queries"] == 58


def _log(**kv) -> str:
    return "".join(f":::MLLOG {json.dumps({'key': k, 'value': v})}\n" for k, v in kv.items())


def test_every_failed_criterion_is_named_with_loadgen_numbers(tmp_path):
    (tmp_path / "d.txt").write_text(
        _log(
            result_validity="INVALID",
            effective_scenario="Server",
            result_min_duration_met=False,
            effective_min_duration_ms=1000,
            result_min_queries_met=False,
            result_query_count=42,
            effective_min_query_count=200,
            result_perf_constraints_met=False,
            effective_target_latency_ns=10_000_000,
            effective_target_latency_percentile=0.99,
            **{"result_99.00_percentile_latency_ns": 13_344_000_000},
            result_overlatency_query_count=40,
            early_stopping_met=False,
            early_stopping_result=" * Run unsuccessful.\n * Processed 42 queries.\n * Would need to run at least 438 more queries",
            result_invalid_reason="Reduce target QPS to improve latency. ",
            result_completed_samples_per_sec=41.5,
        )
    )
    m = loadgen.results(loadgen.parse_detail(tmp_path / "d.txt"))
    assert m["loadgen.failed"] == "min_duration, min_queries, latency_constraint, early_stopping"
    assert m["loadgen.invalid_reason"] == (
        "min duration: the run was shorter than 1000 ms; min queries: 42 queries, 200 required; "
        "latency constraint: p99 1.334e+04 ms over the 10 ms bound (40 of 42 queries over it); "
        "early stopping: Run unsuccessful; Processed 42 queries; Would need to run at least 438 more queries; "
        "LoadGen advises: Reduce target QPS to improve latency."
    )
    assert m["loadgen.mlperf"] == "42 samples/s (completed samples/s)" and m["loadgen.mlperf_value"] == 41.5


@pytest.mark.parametrize(
    ("scenario", "detail", "shown"),
    [
        (
            "SingleStream",
            {"early_stopping_latency_ss": 57246, "early_stopping_latency_ms": 114095},
            "0.05725 ms (early-stopping p90 latency)",
        ),
        ("MultiStream", {"early_stopping_latency_ms": 5_718_033}, "5.718 ms (early-stopping p99 latency)"),
        ("MultiStream", {"early_stopping_latency_ms": 0}, None),  # too few queries for an estimate
        ("Offline", {"result_samples_per_second": 19149.7}, "19150 samples/s"),
    ],
)
def test_the_figure_mlperf_reports_per_scenario(tmp_path, scenario, detail, shown):
    (tmp_path / "d.txt").write_text(_log(result_validity="VALID", **detail))
    m = loadgen.results(loadgen.parse_detail(tmp_path / "d.txt"), scenario)
    assert m.get("loadgen.mlperf") == shown and "loadgen.invalid_reason" not in m
    if scenario == "SingleStream":
        assert m["loadgen.early_stopping_p90_ms"] == 0.057246 and m["loadgen.early_stopping_p99_ms"] == 0.114095


def test_trace_gives_loadgen_latency_per_query(tmp_path):
    sample = (
        '{{"name":"Sample","cat":"default","ph":"b","pid":1,"id":{i},"ts":1.0,"args":{{"sample_seq":{i},'
        '"query_seq":{q},"sample_idx":3,"issue_start_ns":230,"complete_ns":{ns}}}}},'
    )
    lines = [
        '{"traceEvents":[',
        sample.format(i=0, q=1, ns=900),
        sample.format(i=1, q=0, ns=500),
        sample.format(i=2, q=1, ns=1200),
        '{"name":"Sample","cat":"default","ph":"e", "pid":1,"id":0,"ts":2.0},',
        '{"name":"LogDetail","args":{"key":""not json""}},',
        '{"name":"LastTrace"}',
        "]}",
    ]
    (tmp_path / "t.json").write_text("\n".join(lines))
    assert loadgen.parse_trace(tmp_path / "t.json") == [500, 1200]  # a query's latency: its last sample's


def test_loadgen_accuracy_log_gives_predictions_per_sample(tmp_path):
    (tmp_path / "a.json").write_text(
        json.dumps([{"seq_id": 0, "qsl_idx": 2, "data": "07000000"}, {"seq_id": 1, "qsl_idx": 0, "data": "03000000"}])
    )
    assert loadgen.parse_accuracy(tmp_path / "a.json", 3).tolist() == [3, -1, 7]


def test_peak_search_doubles_then_bisects():
    tried = []

    def valid(qps):
        tried.append(qps)
        return qps <= 700

    assert loadgen.find_peak(valid, 100, True, steps=6) == pytest.approx(700, rel=0.1)
    assert tried[:3] == [200, 400, 800]


def test_peak_search_from_an_invalid_start_steps_down_then_bisects():
    tried = []

    def valid(qps):
        tried.append(qps)
        return qps <= 300

    assert loadgen.find_peak(valid, 1000, None, steps=5) == pytest.approx(250)
    assert tried[:3] == [1000, 250, 625] and loadgen.find_peak(lambda q: False, 100, None, steps=3) == 0.0


def test_loadgen_runtime_errors_join_the_invalid_reason(tmp_path):
    log = tmp_path / "mlperf_log_detail.txt"
    lines = [
        {"key": "result_validity", "value": "INVALID"},
        {"key": "result_min_duration_met", "value": False},
        {"key": "error_runtime", "value": "Max test duration reached", "metadata": {"is_error": True}},
        {"key": "error_runtime", "value": "Ending early: too many outstanding queries"},
    ]
    log.write_text("".join(f":::MLLOG {json.dumps(rec)}\n" for rec in lines))
    why = loadgen.results(loadgen.parse_detail(log), "Server")["loadgen.invalid_reason"]
    assert why.startswith("min duration") and why.endswith(
        "LoadGen logged: Max test duration reached; Ending early: too many outstanding queries"
    )


SCENARIO_SUITE = "scenarios: [single_stream, multi_stream, server, offline]\nsettings: {min_duration_ms: 300, min_query_count: 100, warmup: 2}\n"


@pytest.mark.slow
def test_scenarios_run_under_loadgen_with_logs_and_accuracy(demo, linear_model):
    pytest.importorskip("mlperf_loadgen")
    demo.path.joinpath("suite.yaml").write_text(
        manifest(linear_model[1]).replace("settings: {warmup: 2, latency_samples: 20}\n", "") + SCENARIO_SUITE
    )
    result = demo.runpytest(
        "--aibench",
        "suite.yaml",
        "--aibench-json",
        "r.json",
        "-k",
        "server or offline or stream",
        "--aibench-benchmark-json",
        "pb.json",
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*LoadGen*MLPerf result*",
            "*ms (early-stopping p90 latency)*",
            "latency (p50, p99): LoadGen's per-query latency*queries of 1 sample* (2 items)*"
            "queries of 8 samples* (1 item)*none (MLPerf offline*",
            "*energy method: model*",
        ]
    )
    items = {i["axes"]["scenario"]: i for i in json.loads((Path(demo.path) / "r.json").read_text())["items"]}
    for scenario in ("single_stream", "multi_stream", "server"):  # LoadGen's per-query latency, not the model's
        lat, lg, ns = (
            items[scenario]["metrics"]["latency"],
            items[scenario]["metrics"]["loadgen"],
            sorted(items[scenario]["samples"]["latency_ns"]),
        )
        assert lat["measure"] == "query" and lat["p50_ms"] == lg["p50_ms"] and lat["p99_ms"] == lg["p99_ms"]
        assert len(ns) == lg["queries"] == lat["samples"], scenario  # every query, from LoadGen's trace
        assert ns[min(len(ns) - 1, int(0.5 * len(ns)))] / 1e6 == pytest.approx(lg["p50_ms"], abs=1e-6), (
            scenario
        )  # its rank rule
        assert lg["service_p50_ms"] <= lat["p99_ms"]  # model time per batch is kept apart, named as such
        assert items[scenario]["info"]["loadgen"]["query_clock"] == "LoadGen trace: scheduled to completion"
    assert not list(Path(demo.path).rglob("mlperf_log_trace.json"))  # parsed, then removed
    offline = items["offline"]["metrics"]
    assert offline["latency"] == {"measure": "none"} and not items["offline"]["samples"]["latency_ns"]
    assert offline["vips"] == pytest.approx(offline["accuracy"] * offline["loadgen"]["samples_per_s"])
    bench = {b["params"]["scenario"]: b for b in json.loads((Path(demo.path) / "pb.json").read_text())["benchmarks"]}
    assert bench["offline"]["stats"]["ops"] == pytest.approx(offline["loadgen"]["samples_per_s"], rel=1e-3)
    assert "LoadGen's per-query latency" in bench["single_stream"]["extra_info"]["aibench.timed"]
    assert set(items) == {"single_stream", "multi_stream", "server", "offline"}
    for scenario, item in items.items():
        lg = item["metrics"]["loadgen"]
        assert lg["result"] in ("VALID", "INVALID") and lg["accuracy"] > 0.9, scenario
        assert item["metrics"]["accuracy"] == lg["accuracy"]  # scored from LoadGen's logged responses
        logs = Path(item["info"]["loadgen"]["logs"])
        assert (logs / "performance" / "mlperf_log_detail.txt").exists()
        assert (logs / "accuracy" / "mlperf_log_accuracy.json").exists()
        assert item["metrics"]["energy"]["method"] == "model"
        assert scenario == "offline" or item["metrics"]["latency"]["p99_ci_high_ms"] > 0
    server = items["server"]["metrics"]["loadgen"]
    probes = items["server"]["info"]["loadgen"]["settings"]["search"]
    # the target is searched: the highest rate whose probe run was VALID, then measured again at it
    assert server["server_search_probes"] == len(probes) >= 2 and server["server_target_qps"] > 0
    valid = [p["qps"] for p in probes if p["valid"]]
    assert server["server_target_qps"] == (max(valid) if valid else min(p["qps"] for p in probes))
    assert all(p["reason"] for p in probes if not p["valid"])  # each INVALID probe says why
    for item in items.values():  # scaled settings say so; the durations and seeds it ran under are recorded
        used = item["info"]["loadgen"]["settings"]
        assert used["note"] == "scaled settings, not a valid MLPerf result" and used["min_duration_ms"] == 300
        assert item["metrics"]["loadgen"]["official_settings"] is False
    result.stdout.fnmatch_lines(["*LoadGen: 4 items ran under scaled settings, not a valid MLPerf result*"])
    assert items["multi_stream"]["metrics"]["latency"]["batch"] == 8


@pytest.mark.slow
def test_require_valid_fails_an_invalid_run_and_otherwise_shows_it(demo, linear_model):
    pytest.importorskip("mlperf_loadgen")
    # an impossible bound: every server run is INVALID
    text = (
        manifest(linear_model[1]).replace("settings: {warmup: 2, latency_samples: 20}\n", "")
        + "scenarios: [server]\nsettings: {min_duration_ms: 200, min_query_count: 50, server_latency_ms: 0.000001, warmup: 1}\n"
    )
    demo.path.joinpath("suite.yaml").write_text(text)
    shown = demo.runpytest("--aibench", "suite.yaml", "--aibench-md", "r.md", "--aibench-html", "r.html")
    shown.assert_outcomes(passed=1)
    why = "*LoadGen INVALID *linear*server*: latency constraint: p99 * ms over the 1e-06 ms bound (* of * queries over it)*"
    shown.stdout.fnmatch_lines([why])
    for name in ("r.md", "r.html"):
        page = Path(demo.path, name).read_text()
        assert "LoadGen INVALID" in page and "latency constraint: p99" in page and "over the 1e-06 ms bound" in page, (
            name
        )
    assert "p50 latency, ms (log), LoadGen per query" in Path(demo.path, "r.html").read_text()  # which latency is drawn
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
    for zone, name, value in (
        ("intel-rapl:0", "package-0", package_uj),
        ("intel-rapl:0:1", "dram", dram_uj),
        ("intel-rapl:0:0", "core", 5),
    ):
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


def test_settling_fills_the_time_before_a_timed_stretch_with_untimed_calls():
    calls: list[int] = []
    assert settle(calls.append, [1], per_call_ns=1e6) == 5 and len(calls) == 5  # 5 ms at 1 ms a call
    assert settle(calls.append, [1], per_call_ns=1e6, done_ns=3e6) == 2  # the warm-up's 3 ms count
    assert settle(calls.append, [1], per_call_ns=1e6, done_ns=SETTLE_S * 1e9) == 0
    assert settle(calls.append, [1], per_call_ns=40e6) == 1  # a slow model settles in one call
    assert settle(lambda x: None, [1], per_call_ns=1.0) == SETTLE_MAX_CALLS


@pytest.mark.slow
def test_an_item_settles_after_the_host_canary_and_says_so(demo, linear_model):
    """The canary runs before the warm-up, and untimed calls fill what the warm-up left of the settling
    time, so the first timed calls are not the ones still recovering from the canary."""
    extra = "profiles: {quick: {warmup: 2, latency_samples: 20}}\n"
    demo.path.joinpath("suite.yaml").write_text(manifest(linear_model[1], extra=extra))
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json").assert_outcomes(passed=1)
    (item,) = json.loads((Path(demo.path) / "r.json").read_text())["items"]
    warm = item["info"]["warmup"]
    assert warm["calls"] == 2 and warm["settle_calls"] > 2  # a µs-scale call: far more than 2 fill 5 ms


def test_the_warm_up_collects_young_garbage_without_walking_the_whole_heap():
    """A full collection walks every object torch and the loaded programs made (a quarter of a second each
    item); the young generations hold what the item's setup just left."""
    seen: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    try:
        warm_up(lambda x: None, [1], 3)
    finally:
        gc.callbacks.remove(record)
    assert seen and max(seen) < 2  # one collection of the young generations, none of the oldest
    assert gc.isenabled()


COUNTING = """
import demo_runners

ROWS = []
_infer = demo_runners.NumpySession.infer


def infer(self, batch):
    if len(batch) > 1:  # the accuracy pass's batches (the latency loop's are single rows)
        ROWS.append(len(batch))
    return _infer(self, batch)


demo_runners.NumpySession.infer = infer


def pytest_sessionfinish(session):
    open("rows.txt", "w").write(" ".join(map(str, ROWS)))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("samples", "timed", "rows"), [(100, 68, "32 32 32 4"), (20, 20, "20 20")])
def test_the_first_batch_counts_for_accuracy_and_only_the_rest_for_throughput(demo, linear_model, samples, timed, rows):
    """First-call setup stays out of the throughput without running a batch twice: the first batch's
    outputs are scored, the rest is timed (all of it again, where one batch is all there is)."""
    extra = f"profiles: {{quick: {{eval_samples: {samples}, batch_size: 32}}}}\n"
    demo.path.joinpath("suite.yaml").write_text(manifest(linear_model[1], extra=extra))
    demo.makepyfile(counting=COUNTING)
    demo.syspathinsert()
    demo.runpytest("-p", "counting", "--aibench", "suite.yaml", "--aibench-json", "r.json").assert_outcomes(passed=1)
    (item,) = json.loads((Path(demo.path) / "r.json").read_text())["items"]
    assert (Path(demo.path) / "rows.txt").read_text() == rows
    assert item["metrics"]["eval"]["samples"] == samples
    assert item["info"]["throughput_region"] == f"accuracy pass after its first batch: {timed} of {samples} samples"


@pytest.mark.slow
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
