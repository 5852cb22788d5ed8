"""The roofline device model: counted work, the bound it predicts, devices that cannot run a precision,
and a host calibration measured once per machine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_aibench.errors import NotAvailable
from pytest_aibench.sim import compute, roofline
from pytest_aibench.sim.node import PROFILES

onnx = pytest.importorskip("onnx")


def _graph(path) -> None:
    h, tp = onnx.helper, onnx.TensorProto
    w = np.ones((8, 3, 3, 3), np.float32)
    m = np.ones((8 * 16 * 16, 10), np.float32)
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("Flatten", ["r"], ["f"]),
        h.make_node("MatMul", ["f", "m"], ["y"]),
    ]
    graph = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info("x", tp.FLOAT, ["N", 3, None, None])],
        [h.make_tensor_value_info("y", tp.FLOAT, ["N", 10])],
        [h.make_tensor("w", tp.FLOAT, w.shape, w.ravel()), h.make_tensor("m", tp.FLOAT, m.shape, m.ravel())],
    )
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), str(path))


def test_work_is_counted_per_operator_kind_with_activations_fused(tmp_path) -> None:
    path = tmp_path / "m.onnx"
    _graph(path)
    work = roofline.count(path, (3, 16, 16))  # free sizes: the item's sample shape
    conv_flops = 2.0 * 8 * 16 * 16 * 3 * 9
    assert work["conv"].ops == 1 and work["conv"].flops == conv_flops + 8 * 16 * 16  # the ReLU joins its conv
    assert work["gemm"].flops == 2.0 * 2048 * 10
    assert work["elementwise"].ops == 1 and work["elementwise"].bytes == 0  # Flatten moves nothing
    assert work["conv"].bytes == 4.0 * (3 * 16 * 16 + 8 * 27 + 8 * 16 * 16)
    assert roofline.count(path) == {}  # a free size with no sample: nothing to count


def test_each_operator_takes_the_slower_of_its_compute_and_memory_bounds() -> None:
    compute_bound = {"conv": roofline.Counts(each=[(1e9, 1e3)])}
    memory_bound = {"elementwise": roofline.Counts(each=[(1e3, 1e9)])}
    eff = {"conv": [(1e6, 0.25), (1e9, 0.5)], "memory": [(1e3, 1.0), (1e10, 1.0)]}
    assert roofline.predict_s(compute_bound, 100.0, 10.0, eff, 0.0) == pytest.approx(1e9 / (100e9 * 0.5))
    assert roofline.predict_s(memory_bound, 100.0, 10.0, eff, 1e-6, call_s=2e-6) == pytest.approx(0.1 + 3e-6)
    assert roofline.predict_s(memory_bound, 100.0, 10.0, eff, 0.0, "int8") == pytest.approx(
        0.025
    )  # a quarter the bytes
    mid = roofline._curve([(1e6, 0.2), (1e8, 0.6)], 1e7)
    assert mid == pytest.approx(0.4) and roofline._curve([(1e6, 0.2)], 1.0) == 0.2


def test_a_precision_the_device_cannot_run_is_not_offered() -> None:
    nano, rpi4, orin = PROFILES["jetson_nano"], PROFILES["rpi4"], PROFILES["jetson_orin"]
    assert not nano.offers("int8") and not nano.offers("int8_dynamic") and nano.offers("fp16")
    assert rpi4.offers("fp16") and rpi4.computes_in("fp16") == "fp32"  # a CPU upcasts fp16 weights
    assert orin.peak_for("int8") > orin.peak_for("fp16") > orin.peak_for("fp32")
    with pytest.raises(NotAvailable, match="jetson_nano profile has no int8 compute path"):
        compute.compute_s(nano, 10.0, "int8")
    for node in PROFILES.values():  # every figure that drives the roofline says where it comes from
        for figure in ("peak_gflops", "bandwidth_gbs"):
            if getattr(node, figure):
                assert dict(node.sources).get(figure), (node.name, figure)


def test_the_committed_efficiencies_say_where_they_were_measured() -> None:
    doc = compute.committed()
    assert doc["machine"]["isa"] and doc["command"].startswith("python -m pytest_aibench.sim.roofline")
    assert set(doc["efficiency"]) >= {"conv", "depthwise", "gemm", "memory"}
    assert all(0 < e for curve in doc["efficiency"].values() for _, e in curve)


def test_the_host_calibration_is_measured_once_per_machine_and_kept(tmp_path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("AIBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("AIBENCH_RECALIBRATE", raising=False)
    calls = []

    def fake(threads: int, repeats: int = 5) -> roofline.Calibration:
        calls.append(threads)
        return roofline.Calibration(
            100.0, 10.0, {"conv": [(1e6, 0.5)]}, 1e-6, threads, 4e-6, 1e-4, {"conv@x": 0.1}, measured="now"
        )

    monkeypatch.setattr(roofline, "measure_calibration", fake)
    roofline.calibrate.cache_clear()
    try:
        first = roofline.calibrate(2)
        roofline.calibrate.cache_clear()
        again = roofline.calibrate(2)  # another process: read back, not measured again
        assert calls == [2] and again.cached and again.peak_gflops == first.peak_gflops == 100.0
        assert again.efficiency == {"conv": [(1e6, 0.5)]} and math.isclose(again.call_s, 4e-6)
        monkeypatch.setenv("AIBENCH_RECALIBRATE", "1")
        roofline.calibrate.cache_clear()
        roofline.calibrate(2)
        assert calls == [2, 2]
    finally:
        roofline.calibrate.cache_clear()
