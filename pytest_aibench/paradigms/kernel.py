"""``kernel``: time one DeepBench-style operation (the item's "model") and report achieved GFLOP/s and
its share of the best GEMM rate measured on this machine in the same process."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from pytest_aibench.core.metric import column, declare
from pytest_aibench.errors import ArtifactError
from pytest_aibench.measure import Measurement
from pytest_aibench.measure.host import HostLoad, busy_flag
from pytest_aibench.measure.memory import peak_rss_mb
from pytest_aibench.measure.timing import time_calls, warm_up
from pytest_aibench.paradigms import ParadigmContext
from pytest_aibench.runtimes import RunsKernel
from pytest_aibench.runtimes.kernels import peak_gflops


class KernelBench:
    name = "kernel"

    @dataclass(frozen=True)
    class Params:
        """A kernel's shapes are the model's ``kernel:``; nothing else to choose."""

    provides = declare(
        ("kernel.gflops", "achieved GFLOP/s at the median latency", True),
        ("kernel.flops", "floating-point operations per call (from the shapes)", None),
        ("kernel.peak_gflops", "best fp32 GEMM rate measured on this machine in this run", None),
        ("kernel.fraction_of_peak", "kernel.gflops / kernel.peak_gflops", True, "1"),
        ("kernel.bytes", "a collective's payload per call (fp32 elements x 4)", None, "B"),
        ("kernel.algbw_gbs", "algorithm bandwidth at the median latency: bytes / time (nccl-tests)", True, "GB/s"),
        ("kernel.busbw_gbs", "bus bandwidth: algbw x 2(ranks-1)/ranks, comparable across rank counts", True, "GB/s"),
    )
    provides |= column(provides, {"kernel.gflops": ("GFLOP/s", "{:.1f}"), "kernel.busbw_gbs": ("bus GB/s", "{:.3f}")})

    def run(self, ctx: ParadigmContext) -> Measurement:

        session = ctx.session
        kernel = session.kernel if isinstance(session, RunsKernel) else None
        if kernel is None:
            raise ArtifactError("the kernel paradigm measures kernel models (kernel: {op, shape})")
        warm = warm_up(session.infer, [None], ctx.settings.warmup)
        with HostLoad() as host:
            host.probe()
            latency = time_calls(session.infer, [None], 0, ctx.settings.latency_samples)
            host.probe()
        seconds = statistics.median(latency) / 1e9
        m = Measurement(
            latency_ns=latency,
            peak_rss_mb=peak_rss_mb(),
            seed=ctx.seed,
            flags=busy_flag(host.result()),
            info={
                "warmup": warm,
                "host_load": host.result(),
                "kernel": {"op": kernel.op, "shape": kernel.dims},
            },
        )
        payload = kernel.bytes_reduced()
        if payload:  # a collective: bandwidth, as nccl-tests defines it, is its figure of merit (no FLOPs)
            ranks = kernel.dims["ranks"]
            algbw = payload / seconds / 1e9
            m.metrics.update(
                {
                    "kernel.bytes": payload,
                    "kernel.algbw_gbs": algbw,
                    "kernel.busbw_gbs": algbw * 2 * (ranks - 1) / ranks,
                }
            )
            return m
        gflops = kernel.flops() / seconds / 1e9
        peak = peak_gflops(ctx.node.threads)  # measured once a process; a collective has no FLOP rate to set against it
        m.info["peak"] = "best fp32 GEMM (numpy, torch; 1024^3) measured in this process"
        m.metrics.update(
            {
                "kernel.gflops": gflops,
                "kernel.flops": kernel.flops(),
                "kernel.peak_gflops": peak,
                "kernel.fraction_of_peak": gflops / peak if peak else 0.0,
            }
        )
        return m
