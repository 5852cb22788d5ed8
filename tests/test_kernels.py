"""DeepBench-style kernels: FLOPs from shapes, real runs on each framework, clear skips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_aibench.runtimes.kernels import Kernel, prepare


def test_flops_are_counted_from_the_shapes():
    assert Kernel("gemm", (("m", 4), ("n", 5), ("k", 6))).flops() == 2 * 4 * 5 * 6
    conv = Kernel(
        "conv", (("n", 1), ("c", 3), ("h", 8), ("w", 8), ("k", 2), ("r", 3), ("s", 3), ("stride", 1), ("pad", 1))
    )
    assert conv.out_hw() == (8, 8) and conv.flops() == 2 * 1 * 2 * 3 * 3 * 3 * 8 * 8
    assert Kernel("lstm", (("t", 2), ("b", 3), ("i", 4), ("h", 5))).flops() == 2 * 2 * 3 * 4 * 5 * (4 + 5)


def test_numpy_conv_matches_torch():
    torch = pytest.importorskip("torch")
    k = Kernel("conv", (("n", 1), ("c", 2), ("h", 6), ("w", 6), ("k", 3), ("r", 3), ("s", 3)))
    out = prepare("numpy", k, "fp32", 1).infer()
    assert out.shape == (1, 4, 4, 3)  # (n, p, q, k) from the im2col view
    _ = torch


@pytest.mark.slow
def test_micro_manifest_runs_each_framework_and_skips_what_is_missing(pytester):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    (Path(pytester.path) / "suite.yaml").write_text(
        "suite: m\nversion: '1'\nmodels:\n  g: {kernel: {op: gemm, shape: {m: 64, n: 32, k: 64}}}\n"
        "  l: {kernel: {op: lstm, shape: {t: 3, b: 2, i: 8, h: 8}}}\n"
        "frameworks: [numpy, torch, onnxruntime]\nquantizations: [fp32, bf16]\nparadigms: [kernel]\n"
        "metrics: [latency, kernel]\nsettings: {warmup: 1, latency_samples: 5}\n"
    )
    result = pytester.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json", "-rs")
    result.assert_outcomes(passed=8, skipped=4)
    result.stdout.fnmatch_lines(["*numpy has no bf16 gemm kernel here*"])
    items = [i for i in json.loads((Path(pytester.path) / "r.json").read_text())["items"] if i["outcome"] == "passed"]
    for i in items:
        k = i["metrics"]["kernel"]
        assert (
            k["gflops"] > 0
            and k["peak_gflops"] > 0
            and k["fraction_of_peak"] == pytest.approx(k["gflops"] / k["peak_gflops"])
        )
        assert i["artifact"]["op"] in ("gemm", "lstm") and i["artifact"]["flops"] == k["flops"]


def test_kernel_needs_its_dimensions(pytester):
    (Path(pytester.path) / "suite.yaml").write_text(
        "suite: m\nversion: '1'\nmodels:\n  g: {kernel: {op: gemm, shape: {m: 64, n: 32}}}\n"
        "frameworks: [numpy]\nparadigms: [kernel]\n"
    )
    result = pytester.runpytest("--aibench", "suite.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*models.g.kernel.shape: a gemm kernel needs the dimensions m, n, k; missing k*"])


def test_a_model_without_a_dataset_is_an_error(pytester):
    (Path(pytester.path) / "suite.yaml").write_text(
        "suite: m\nversion: '1'\nmodels:\n  z: {zoo: tinycnn-digits}\nframeworks: [torch]\n"
    )
    result = pytester.runpytest("--aibench", "suite.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*models.z: model needs a dataset to be evaluated on*"])
    _ = np


CONV = (("n", 2), ("c", 3), ("h", 9), ("w", 9), ("k", 4), ("r", 3), ("s", 3), ("stride", 2), ("pad", 1))


def test_training_kernels_count_their_flops_and_a_collective_its_bytes():
    forward = Kernel("conv", CONV).flops()
    assert Kernel("conv_bwd_data", CONV).flops() == Kernel("conv_bwd_filter", CONV).flops() == forward
    rnn = (("t", 2), ("b", 3), ("i", 4), ("h", 5))
    gru = 2 * 2 * 3 * 3 * 5 * (4 + 5)  # three gates
    assert Kernel("gru", rnn).flops() == gru and Kernel("gru_bwd", rnn).flops() == 2 * gru
    assert Kernel("lstm_bwd", rnn).flops() == 2 * Kernel("lstm", rnn).flops()
    reduce = Kernel("allreduce", (("n", 1000), ("ranks", 2)))
    assert reduce.flops() == 0 and reduce.bytes_reduced() == 4000


def test_backward_kernels_compute_autograds_gradients():
    """The timed call is the real backward pass: convolution_backward's data and filter gradients equal
    autograd's through conv2d, and the RNN's timed call accumulates gradients into every weight."""
    torch = pytest.importorskip("torch")
    d = dict(CONV)
    g = torch.Generator().manual_seed(0)
    x = torch.rand((d["n"], d["c"], d["h"], d["w"]), generator=g, requires_grad=True)
    w = torch.rand((d["k"], d["c"], d["r"], d["s"]), generator=g, requires_grad=True)
    y = torch.nn.functional.conv2d(x, w, stride=2, padding=1)
    dy = torch.rand(y.shape, generator=g)
    gx, gw = torch.autograd.grad(y, (x, w), dy)
    data = prepare("torch", Kernel("conv_bwd_data", CONV), "fp32", 1).infer()[0]
    filt = prepare("torch", Kernel("conv_bwd_filter", CONV), "fp32", 1).infer()[1]
    assert torch.allclose(data, gx, atol=1e-5) and torch.allclose(filt, gw, atol=1e-5)
    session = prepare("torch", Kernel("gru_bwd", (("t", 2), ("b", 3), ("i", 4), ("h", 5))), "fp32", 1)
    session.infer()
    with pytest.raises(Exception, match="fp32 only"):
        prepare("torch", Kernel("gru_bwd", (("t", 2), ("b", 3), ("i", 4), ("h", 5))), "bf16", 1)


@pytest.mark.slow
def test_micro_items_for_backward_passes_and_all_reduce_report_gflops_and_bandwidth(pytester):
    """All-reduce really runs across processes (gloo): its sum of ones is checked at preparation, the
    helpers exit when the item closes, and it reports algorithm and bus bandwidth, not GFLOP/s."""
    pytest.importorskip("torch")
    (Path(pytester.path) / "suite.yaml").write_text(
        "suite: m\nversion: '1'\nmodels:\n"
        "  ar: {kernel: {op: allreduce, shape: {n: 4096, ranks: 2}}}\n"
        "  cb: {kernel: {op: conv_bwd_filter, shape: {n: 1, c: 8, h: 8, w: 8, k: 8, r: 3, s: 3, pad: 1}}}\n"
        "frameworks: [torch, numpy]\nquantizations: [fp32]\nparadigms: [kernel]\n"
        "metrics: [latency, kernel]\nsettings: {warmup: 2, latency_samples: 10}\n"
    )
    result = pytester.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json", "-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*bus GB/s*", "*numpy has no allreduce kernel here*"])
    items = {i["id"].split("::")[1]: i for i in json.loads((Path(pytester.path) / "r.json").read_text())["items"]}
    ar = items["ar[torch-fp32-kernel]"]["metrics"]["kernel"]
    assert ar["bytes"] == 4 * 4096 and ar["algbw_gbs"] > 0 and ar["busbw_gbs"] == pytest.approx(ar["algbw_gbs"])
    assert "gflops" not in ar
    assert items["cb[torch-fp32-kernel]"]["metrics"]["kernel"]["gflops"] > 0
