"""The HTML report's charts: ticks that label any range, markers that tell items apart, failures shown."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aibench.core.result import Result
from pytest_aibench.report.html import _rank, distributions_svg, log_ticks, nice_ticks, pareto_svg, render


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-6, max_value=6), st.floats(min_value=1e-4, max_value=8))
def test_log_axes_always_get_at_least_two_round_ticks_inside(lo: float, span: float) -> None:
    hi = lo + span
    ticks = log_ticks(lo, hi)
    assert len(ticks) >= 2
    for v in ticks:
        assert 10**lo * (1 - 1e-9) <= v <= 10**hi * (1 + 1e-9)
    mantissas = {round(v / 10 ** math.floor(math.log10(v)), 6) for v in ticks}
    assert mantissas <= {1.0, 2.0, 5.0} or _evenly_spaced(ticks)


def _evenly_spaced(ticks: list[float]) -> bool:
    steps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    return all(math.isclose(s, steps[0], rel_tol=1e-6) for s in steps)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=1), st.floats(min_value=1e-3, max_value=1))
def test_linear_ticks_are_evenly_spaced_round_steps(lo: float, span: float) -> None:
    hi = lo + span
    ticks = nice_ticks(lo, hi)
    assert 2 <= len(ticks) <= 6 and _evenly_spaced(ticks)
    step = ticks[1] - ticks[0]
    mantissa = round(step / 10 ** math.floor(math.log10(step) + 1e-12), 6)
    assert mantissa in (1.0, 2.0, 5.0)
    assert all(lo - 1e-9 <= v <= hi + 1e-9 for v in ticks)


def test_a_latency_axis_inside_one_decade_is_labelled() -> None:
    assert log_ticks(math.log10(0.031), math.log10(0.038)) == pytest.approx([0.032, 0.034, 0.036, 0.038])


def test_box_plot_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]  # 20 samples
    assert _rank(values, 0.95) == 19.0  # ceil(0.95 * 20) = 19th value
    assert _rank(values, 0.05) == 1.0 and _rank(values, 0.5) == 10.0


def _item(model: str, fw: str, acc: float, p50: float, outcome: str = "passed") -> Result:
    return Result(
        f"s::{model}[{fw}-fp32-single]",
        "s",
        model,
        {"model": model, "framework": fw, "quantization": "fp32"},
        outcome=outcome,
        metrics={"accuracy": acc, "latency.p50_ms": p50, "vips": acc / p50},
        samples={"latency_ns": [int(p50 * 1e6)] * 20},
    )


def test_models_sharing_runtime_and_quantization_are_named_and_failures_ringed() -> None:
    svg = pareto_svg(
        [
            _item("alpha", "torch", 0.9, 0.2),
            _item("beta", "torch", 0.8, 0.3, "failed"),
            _item("gamma", "onnxruntime", 0.85, 0.1),
        ]
    )
    assert ">alpha</text>" in svg and ">beta</text>" in svg and ">gamma</text>" not in svg  # gamma's style is unique
    assert svg.count('class="failed-mark"') == 1 and "failed (a gate or a rule)" in svg
    box = distributions_svg([_item("alpha", "torch", 0.9, 0.0312), _item("beta", "torch", 0.8, 0.0335)])
    assert box.count(" ms</text>") >= 2  # tick labels on an axis well inside one decade


def test_the_header_says_when_no_profile_was_used() -> None:
    html = render({"run_id": "r", "profile": None}, [_item("alpha", "torch", 0.9, 0.2)])
    assert "profile (none)" in html and "profile None" not in html
