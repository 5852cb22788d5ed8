import pytest


@pytest.mark.aibench(model="tinycnn-digits", framework="onnxruntime", latency_samples=100)
def test_tinycnn_on_onnxruntime(aibench, aibench_runner, aibench_dataset):
    result = aibench(aibench_runner, aibench_dataset)
    assert result.metrics["accuracy"] >= 0.95
    assert result.metrics["latency.p99_ms"] < 50
