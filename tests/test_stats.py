"""Latency statistics from raw samples."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aibench.core.result import flatten, nest
from pytest_aibench.judge.metrics import Vips
from pytest_aibench.measure import Measurement
from pytest_aibench.measure.stats import percentile, summarize_ns


def test_nearest_rank_percentiles():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([5.0], 99) == 5.0 and math.isnan(percentile([], 50))


def test_summary_in_milliseconds():
    s = summarize_ns([1_000_000, 2_000_000, 3_000_000, 4_000_000], per=2)
    assert s["latency.p50_ms"] == 2.0 and s["latency.p99_ms"] == 4.0 and s["latency.mean_ms"] == 2.5
    assert s["latency.stdev_ms"] == pytest.approx(1.2909944) and s["latency.batch"] == 2


@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=200))
def test_percentiles_are_observed_and_ordered(samples):
    s = summarize_ns(samples)
    ms = {x / 1e6 for x in samples}
    assert {s["latency.p50_ms"], s["latency.p90_ms"], s["latency.p99_ms"]} <= ms
    assert (
        s["latency.min_ms"] <= s["latency.p50_ms"] <= s["latency.p90_ms"] <= s["latency.p99_ms"] <= s["latency.max_ms"]
    )


def test_vips_is_accuracy_over_mean_seconds_per_image():
    import numpy as np

    m = Measurement(
        predictions=np.array([1, 2, 3, 0]),
        labels=np.array([1, 2, 3, 3]),
        latency_ns=[2_000_000, 6_000_000],
        latency_batch=2,
    )
    # accuracy 0.75, mean 4 ms per call of 2 images = 2 ms per image -> 0.75 / 0.002
    assert Vips().compute(m)["vips"] == pytest.approx(375.0)


@given(st.dictionaries(st.from_regex(r"[a-z]{1,3}(\.[a-z]{1,3}){0,2}", fullmatch=True), st.integers(), max_size=8))
def test_nest_and_flatten_round_trip(flat):
    assert flatten(nest(flat)) == flat


def test_accuracy_loss_vops_and_size_from_one_measurement():
    import numpy as np

    from pytest_aibench.judge.metrics import AccuracyLoss, ModelSize, Vops

    m = Measurement(
        predictions=np.array([0, 1, 2, 2]),
        labels=np.array([0, 1, 2, 3]),
        reference=np.array([0, 1, 3, 3]),
        latency_ns=[1_000_000],
        mflops=50.0,
        model_bytes=2**20,
    )
    loss = AccuracyLoss().compute(m)
    # fp32 got 3/4 right, the variant 3/4 too, but they disagree on two samples
    assert loss == {"accuracy_fp32": 0.75, "accuracy_loss": 0.0, "accuracy_loss_ratio": 0.0, "agreement": 0.5}
    assert Vops().compute(m) == {
        "vops": pytest.approx(0.75 / 0.001 * 50.0),
        "mflops": 50.0,
        "gflops_effective": pytest.approx(50.0 / 0.001 / 1e3),
    }
    assert ModelSize().compute(m) == {"model.size_mb": 1.0}
    assert AccuracyLoss().compute(Measurement(predictions=m.predictions, labels=m.labels)) == {}


def test_order_statistic_interval_of_a_tail_percentile():
    from pytest_aibench.measure.stats import order_statistic_ci

    x = list(range(1, 201))  # a p99 of 200 samples: the interval reaches the largest sample
    lo, hi = order_statistic_ci(x, 99)
    assert 190 <= lo < 198 and hi == 200
    lo, hi = order_statistic_ci(list(range(1, 2001)), 50)  # normal-approximation branch
    assert 940 < lo < 1000 < hi < 1060
    assert order_statistic_ci([3.0], 99) == (3.0, 3.0)
