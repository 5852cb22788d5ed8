"""Independent latency rounds re-instantiate the prepared model instead of loading it again: torch copies
the loaded module, LiteRT makes a new interpreter on the bytes read once, OpenVINO a new infer request on
the compiled model. The renewed session computes the same scores and is a separate instance."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_aibench.artifact import resolve
from pytest_aibench.core.model import ModelSpec, Settings
from pytest_aibench.runtimes import RUNNERS, Renews, missing
from pytest_aibench.sim.node import Node


@pytest.mark.parametrize(
    "framework, quantization",
    [("torch", "fp32"), ("torch", "int8"), ("litert", "fp32"), ("litert", "int8"), ("openvino", "fp32")],
)
def test_a_renewed_session_is_a_new_instance_with_the_same_scores(framework: str, quantization: str) -> None:
    runner = RUNNERS.get(framework)
    if missing(runner):
        pytest.skip(missing(runner))
    artifact = resolve(ModelSpec(name="t", dataset="", zoo="tinycnn-digits"), framework, quantization, runner)
    session = runner.prepare(artifact, Node(threads=1), Settings(threads=1))
    assert isinstance(session, Renews)
    x = session.adapt(np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32))
    fresh = session.renew()
    try:
        assert fresh is not session and fresh.options["version"] == session.options["version"]
        np.testing.assert_array_equal(np.asarray(fresh.infer(x)), np.asarray(session.infer(x)))
    finally:
        fresh.close()
        session.close()
