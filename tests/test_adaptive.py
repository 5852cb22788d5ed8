"""Adaptive sampling (``latency_ci``): an item times calls until its median's 95 % interval is as narrow
as asked, within sample and time caps, and records what it reached; the statistics summarising the
samples cost one sort, not a resampling loop."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from pytest_aibench.measure.stats import order_statistic_ci, robustness
from pytest_aibench.measure.timing import Adaptive, ci_fraction, median_half_width, time_until


def test_latency_ci_reads_percent_or_fraction():
    assert ci_fraction("0.5%") == pytest.approx(0.005)
    assert ci_fraction(0.02) == 0.02 and ci_fraction(None) is None


def test_the_half_width_is_the_median_order_statistic_interval_relative_to_the_median():
    x = list(np.random.default_rng(0).lognormal(10, 0.2, 5001).astype(np.int64))
    lo, hi = order_statistic_ci(sorted(x), 50)
    assert median_half_width(x) == pytest.approx((hi - lo) / 2 / sorted(x)[2500], rel=0.02)
    assert median_half_width([5] * 100) == 0.0 and median_half_width([1]) == math.inf


def _call(noise: float):
    rng = np.random.default_rng(1)

    def call(_x):  # about 20 µs of busy work whose length varies by ``noise``
        end = time.perf_counter_ns() + int(20_000 * (1 + noise * rng.random()))
        while time.perf_counter_ns() < end:
            pass

    return call


def test_it_stops_when_the_interval_is_reached_or_at_a_cap_and_says_which():
    got, rec = time_until(_call(0.01), [None], Adaptive(0.5, min_samples=50))
    assert rec["stop"] == "reached" and len(got) == 50 == rec["samples"]  # wide target: decided at once
    got, rec = time_until(_call(1.0), [None], Adaptive(1e-9, min_samples=50, max_samples=400))
    assert rec["stop"] == "max_samples" and len(got) == 400
    got, rec = time_until(_call(1.0), [None], Adaptive(1e-9, min_samples=50, max_samples=10**7, max_s=0.2))
    assert rec["stop"] == "time_cap" and rec["seconds"] >= 0.2 and len(got) < 10**7
    got, rec = time_until(_call(0.2), [None], Adaptive(0.005, min_samples=50, max_s=20))
    assert rec["stop"] == "reached" and rec["half_width"] <= 0.005 and 50 < len(got)


def test_the_intervals_come_from_order_statistics_of_the_samples():
    """Their cost is benchmarks/harness.py's (d), never a timed assertion here."""
    x = list(np.random.default_rng(2).lognormal(10, 0.3, 20_000).astype(np.int64))
    r = robustness(x)
    s = np.sort(np.asarray(x, dtype=np.float64)) / 1e6
    assert (r["latency.p50_ci_low_ms"], r["latency.p50_ci_high_ms"]) == order_statistic_ci(s, 50, presorted=True)
    assert r["latency.p50_ci_low_ms"] <= float(np.median(x)) / 1e6 <= r["latency.p50_ci_high_ms"]


@pytest.mark.slow
def test_an_item_with_latency_ci_measures_until_it_decides_and_records_it(pytester: pytest.Pytester) -> None:
    pytest.importorskip("onnxruntime")
    (Path(pytester.path) / "suite.yaml").write_text(
        'suite: ada\nversion: "1.0"\ndatasets:\n  digits: {source: digits}\nmodels:\n  tinycnn: {zoo: tinycnn-digits}\n'
        "frameworks: [onnxruntime]\nquantizations: [fp32]\n"
        'settings: {eval_samples: 64, warmup: 10, latency_ci: "2%", latency_min_samples: 100, latency_max_s: 5}\n'
    )
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=1)
    item = json.loads((Path(pytester.path) / "run.json").read_text())["items"][0]
    m = item["metrics"]["latency"]  # the run JSON nests dotted names
    assert m["ci_target"] == pytest.approx(0.02)
    assert m["ci_stop"] in ("reached", "time_cap")
    assert m["samples"] >= 100 and m["samples"] == item["info"]["adaptive"]["rounds"][0]["samples"]
    if m["ci_stop"] == "reached":
        assert m["ci_half_width"] <= 0.02
    assert len(item["samples"]["latency_ns"]) == m["samples"]


def test_later_rounds_warm_up_as_long_as_a_fresh_session_needed():
    from pytest_aibench.measure.timing import needed_warmup

    steady = 100.0
    assert needed_warmup([900, 400, 160, 120, 100, 101, 99], steady) == 3  # the third call was still slow
    assert needed_warmup([100, 101, 99], steady) == 1  # at least one call: the first call's setup
    assert needed_warmup([500, 100, 100, 100, 300, 100], steady) == 5  # a late slow call counts


@pytest.mark.slow
def test_rounds_after_the_second_use_the_measured_warm_up(pytester: pytest.Pytester) -> None:
    pytest.importorskip("onnxruntime")
    (Path(pytester.path) / "suite.yaml").write_text(
        'suite: warm\nversion: "1.0"\ndatasets:\n  digits: {source: digits}\nmodels:\n  tinycnn: {zoo: tinycnn-digits}\n'
        "frameworks: [onnxruntime]\nquantizations: [fp32]\n"
        "settings: {eval_samples: 64, warmup: 30, latency_samples: 60, latency_rounds: 3}\n"
    )
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=1)
    warm = json.loads((Path(pytester.path) / "run.json").read_text())["items"][0]["info"]["warmup"]
    assert warm["calls"] == 30 and 1 <= warm["later_rounds"] <= 30 and "1.5x the median" in warm["later_rule"]
