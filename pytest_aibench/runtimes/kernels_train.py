"""DeepBench's other half, on torch: convolution backward (data and filter), recurrent layers' backward
pass (LSTM, GRU; GRU forward too) on training shapes, and all-reduce over real collectives.

Backward kernels are timed alone, as DeepBench times them: the forward pass runs once at preparation
and every timed call runs only the backward operation (convolution_backward with one output asked for,
or autograd over a retained graph). All-reduce runs torch.distributed with gloo between this process
and ``ranks - 1`` helper processes started on this machine, which loop on the same collective until
the session closes; bandwidth is reported as nccl-tests defines it (algorithm bandwidth = bytes / time;
bus bandwidth = algorithm bandwidth x 2(ranks-1)/ranks).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy
from pytest_aibench.errors import NotAvailable

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")

#: ops this module implements, with the dimensions each needs
TRAIN_OPS = {
    "conv_bwd_data": ("n", "c", "h", "w", "k", "r", "s"),
    "conv_bwd_filter": ("n", "c", "h", "w", "k", "r", "s"),
    "lstm_bwd": ("t", "b", "i", "h"),
    "gru": ("t", "b", "i", "h"),
    "gru_bwd": ("t", "b", "i", "h"),
    "allreduce": ("n", "ranks"),
}


def flops(op: str, d: dict[str, int], conv_flops: int) -> int:
    """2 per multiply-add; a backward pass of a recurrent layer costs twice its forward (gradients of the
    inputs and of the weights), a convolution's backward data or filter pass what its forward costs."""
    if op in ("conv_bwd_data", "conv_bwd_filter"):
        return conv_flops
    if op == "allreduce":
        return 0  # sums, not multiply-adds: a collective is measured in bytes per second
    gates = 4 if op.startswith("lstm") else 3
    forward = 2 * d["t"] * d["b"] * gates * d["h"] * (d["i"] + d["h"])
    return forward * (2 if op.endswith("_bwd") else 1)


def bytes_reduced(op: str, d: dict[str, int]) -> int:
    return 4 * d["n"] if op == "allreduce" else 0


def prepare(k: Any, q: str, threads: int) -> tuple[Any, dict[str, Any], Any]:
    """(the timed call, what to record, what closes it: the all-reduce's helpers, or None) for ``k``, a
    :class:`~pytest_aibench.runtimes.kernels.Kernel` (not imported: that module imports this one)."""
    if q != "fp32":
        raise NotAvailable(f"torch {k.op} is measured in fp32 only (DeepBench's training precision here)")
    torch.set_num_threads(threads)
    if k.op == "allreduce":
        return _allreduce(k.dims)
    g = torch.Generator().manual_seed(0)
    d = k.dims
    if k.op.startswith("conv"):
        return (*_conv_backward(k, d, g), None)
    return (*_rnn(k.op, d, g), None)


def _conv_backward(k: Any, d: dict[str, int], g: Any) -> tuple[Any, dict[str, Any]]:
    x = torch.rand((d["n"], d["c"], d["h"], d["w"]), generator=g)
    w = torch.rand((d["k"], d["c"], d["r"], d["s"]), generator=g)
    p, q = k.out_hw()
    dy = torch.rand((d["n"], d["k"], p, q), generator=g)
    stride, pad = [d.get("stride", 1)] * 2, [d.get("pad", 0)] * 2
    mask = [True, False, False] if k.op == "conv_bwd_data" else [False, True, False]
    backward = torch.ops.aten.convolution_backward

    def run() -> Any:
        return backward(dy, x, w, None, stride, pad, [1, 1], False, [0, 0], 1, mask)

    return run, {"op": f"aten.convolution_backward ({'input' if mask[0] else 'weight'} gradient)"}


def _rnn(op: str, d: dict[str, int], g: Any) -> tuple[Any, dict[str, Any]]:
    layer = (torch.nn.LSTM if op.startswith("lstm") else torch.nn.GRU)(d["i"], d["h"])
    x = torch.rand((d["t"], d["b"], d["i"]), generator=g)
    if not op.endswith("_bwd"):

        def forward() -> Any:
            with torch.inference_mode():
                return layer(x)

        return forward, {"op": f"nn.{type(layer).__name__}"}
    x.requires_grad_(True)
    out, _ = layer(x)  # the forward pass once; each timed call is the backward pass alone
    grad = torch.rand(out.shape, generator=g)

    def backward() -> Any:
        out.backward(grad, retain_graph=True)  # gradients of the inputs and of every weight, accumulated

    return backward, {"op": f"nn.{type(layer).__name__} backward (autograd, retained graph)"}


_HELPER = textwrap.dedent(
    """
    import sys, torch, torch.distributed as dist
    rank, ranks, n, address = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=address, rank=rank, world_size=ranks)
    check = torch.ones(1)
    dist.all_reduce(check)
    buf = torch.zeros(n + 1)
    while True:
        dist.all_reduce(buf)
        if buf[-1] > 0:  # the last element is the stop flag: only rank 0 ever sets it
            break
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _allreduce(d: dict[str, int]) -> tuple[Any, dict[str, Any], Any]:
    dist = torch.distributed
    if not dist.is_available() or not dist.is_gloo_available():
        raise NotAvailable("torch.distributed with gloo is not available in this torch build")
    if dist.is_initialized():
        raise NotAvailable("a torch.distributed process group is already open in this process")
    ranks, n = d["ranks"], d["n"]
    if ranks < 2:
        raise NotAvailable("an all-reduce needs ranks >= 2")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    helpers = [
        subprocess.Popen([sys.executable, "-c", _HELPER, str(r), str(ranks), str(n), address], env=env)
        for r in range(1, ranks)
    ]
    try:
        dist.init_process_group("gloo", init_method=address, rank=0, world_size=ranks)
        check = torch.ones(1)
        dist.all_reduce(check)  # every rank took part: the sum is the number of ranks
        if int(check.item()) != ranks:
            raise NotAvailable(f"all-reduce of ones over {ranks} ranks gave {check.item()}")
    except Exception:
        for h in helpers:
            h.kill()
        raise
    buf = torch.zeros(n + 1)  # zeros stay zeros: no overflow however many calls; [-1] is the stop flag

    def run() -> Any:
        dist.all_reduce(buf)

    def close() -> None:
        buf[-1] = 1.0
        dist.all_reduce(buf)
        dist.destroy_process_group()
        for h in helpers:
            try:
                h.wait(timeout=30)
            except subprocess.TimeoutExpired:
                h.kill()

    return run, {"op": "torch.distributed.all_reduce (gloo, sum)", "ranks": ranks, "backend": "gloo"}, close
