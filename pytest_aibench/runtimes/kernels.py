"""DeepBench-style kernels (GEMM, convolution, LSTM) on numpy, torch and ONNX Runtime, in fp32 and the
lower precisions each supports: a "model" that is one operation on fixed shapes.

FLOPs are counted from the shapes (2 per multiply-add); ``peak_gflops`` is the best fp32 GEMM rate
measured here in this process, the stand-in for the machine's peak.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.errors import NotAvailable
from pytest_aibench.runtimes import kernels_train

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort
    import torch
else:
    onnx = lazy("onnx")
    ort = lazy("onnxruntime")
    torch = lazy("torch")


@dataclass(frozen=True)
class Kernel:
    op: str  # gemm | conv | lstm
    shape: tuple[tuple[str, int], ...]  # named dimensions

    @property
    def dims(self) -> dict[str, int]:
        return dict(self.shape)

    def flops(self) -> int:
        d = self.dims
        if self.op in kernels_train.TRAIN_OPS:
            conv = self.op.startswith("conv")
            return kernels_train.flops(self.op, d, Kernel("conv", self.shape).flops() if conv else 0)
        if self.op == "gemm":
            return 2 * d["m"] * d["n"] * d["k"]
        if self.op == "conv":
            p, q = self.out_hw()
            return 2 * d["n"] * d["k"] * d["c"] * d["r"] * d["s"] * p * q
        if self.op == "lstm":  # 4 gates x (input + hidden) x hidden per step and sample
            return 2 * d["t"] * d["b"] * 4 * d["h"] * (d["i"] + d["h"])
        raise ValueError(self.op)

    def out_hw(self) -> tuple[int, int]:
        d = self.dims
        stride, pad = d.get("stride", 1), d.get("pad", 0)
        return (d["h"] + 2 * pad - d["r"]) // stride + 1, (d["w"] + 2 * pad - d["s"]) // stride + 1

    def bytes_reduced(self) -> int:
        """The payload a collective reduces (fp32): an all-reduce's bandwidth is measured on it."""
        return kernels_train.bytes_reduced(self.op, self.dims)

    def label(self) -> str:
        return "x".join(f"{k}{v}" for k, v in self.shape)


REQUIRED = {
    "gemm": ("m", "n", "k"),
    "conv": ("n", "c", "h", "w", "k", "r", "s"),
    "lstm": ("t", "b", "i", "h"),
    **kernels_train.TRAIN_OPS,
}
DTYPES = {"fp32": np.float32, "fp16": np.float16}


class KernelSession:
    """One kernel with its operands prepared; ``infer`` runs it once (its argument is ignored)."""

    def __init__(self, kernel: Kernel, fn: Any, options: dict[str, Any], closer: Any = None):
        self.kernel, self._fn, self.options, self._closer = kernel, fn, options, closer

    def adapt(self, x: Any) -> Any:
        return x

    def infer(self, _: Any = None) -> Any:
        return self._fn()

    def close(self) -> None:
        self._fn = None
        closer, self._closer = self._closer, None
        if closer is not None:
            closer()


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def prepare(framework: str, kernel: Kernel, quantization: str, threads: int) -> KernelSession:
    closer = None
    if kernel.op in kernels_train.TRAIN_OPS:  # backward passes and collectives: torch's autograd and gloo
        if framework != "torch":
            raise NotAvailable(
                f"{framework} has no {kernel.op} kernel here (DeepBench's backward and all-reduce run on torch)"
            )
        fn, notes, closer = kernels_train.prepare(kernel, quantization, threads)
    else:
        impl = {"numpy": _numpy, "torch": _torch, "onnxruntime": _ort}.get(framework)
        if impl is None:
            raise NotAvailable(f"{framework} has no kernel implementations")
        fn, notes = impl(kernel, quantization, threads)
    options = {"framework": framework, "precision": quantization, "threads": threads, **notes}
    return KernelSession(kernel, fn, options, closer)


def _unsupported(framework: str, kernel: Kernel, quantization: str) -> NotAvailable:
    return NotAvailable(f"{framework} has no {quantization} {kernel.op} kernel here")


def _numpy(k: Kernel, q: str, threads: int) -> tuple[Any, dict[str, Any]]:
    if q not in DTYPES or (q == "fp16" and k.op != "gemm"):
        raise _unsupported("numpy", k, q)
    d, dt, r = k.dims, DTYPES[q], _rng()
    if k.op == "gemm":
        a, b = (
            r.random((d["m"], d["k"]), dtype=np.float32).astype(dt),
            r.random((d["k"], d["n"]), dtype=np.float32).astype(dt),
        )
        return (lambda: a @ b), {"threads": "BLAS default"}
    if k.op == "conv":
        x = r.random((d["n"], d["c"], d["h"] + 2 * d.get("pad", 0), d["w"] + 2 * d.get("pad", 0)), dtype=np.float32)
        w = r.random((d["k"], d["c"], d["r"], d["s"]), dtype=np.float32)
        st = d.get("stride", 1)

        def conv() -> np.ndarray:  # im2col through a strided view, then one tensordot
            win = np.lib.stride_tricks.sliding_window_view(x, (d["r"], d["s"]), axis=(2, 3))[:, :, ::st, ::st]
            return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))

        return conv, {"threads": "BLAS default", "method": "im2col + tensordot"}
    x = r.random((d["t"], d["b"], d["i"]), dtype=np.float32)
    wx = r.random((d["i"], 4 * d["h"]), dtype=np.float32) * 0.1
    wh = r.random((d["h"], 4 * d["h"]), dtype=np.float32) * 0.1

    def lstm() -> np.ndarray:
        h = np.zeros((d["b"], d["h"]), np.float32)
        c = np.zeros_like(h)
        for t in range(d["t"]):
            g = x[t] @ wx + h @ wh
            i, f, o, u = np.split(g, 4, axis=1)
            c = 1 / (1 + np.exp(-f)) * c + 1 / (1 + np.exp(-i)) * np.tanh(u)
            h = 1 / (1 + np.exp(-o)) * np.tanh(c)
        return h

    return lstm, {"threads": "BLAS default"}


def _torch(k: Kernel, q: str, threads: int) -> tuple[Any, dict[str, Any]]:
    torch.set_num_threads(threads)
    d = k.dims
    g = torch.Generator().manual_seed(0)
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}.get(q)
    if k.op == "gemm":
        if q == "int8":
            a = torch.randint(-8, 8, (d["m"], d["k"]), dtype=torch.int8, generator=g)
            b = torch.randint(-8, 8, (d["k"], d["n"]), dtype=torch.int8, generator=g)
            try:
                torch._int_mm(a, b)
            except (RuntimeError, NotImplementedError) as exc:
                raise NotAvailable(
                    f"torch has no int8 gemm for these shapes here ({str(exc).splitlines()[0]})"
                ) from None
            return (lambda: torch._int_mm(a, b)), {"op": "torch._int_mm"}
        if dt is None:
            raise _unsupported("torch", k, q)
        a, b = torch.rand((d["m"], d["k"]), generator=g).to(dt), torch.rand((d["k"], d["n"]), generator=g).to(dt)
        return (lambda: torch.mm(a, b)), {"op": "torch.mm"}
    if dt is None or q == "fp16":
        raise _unsupported("torch", k, q)
    if k.op == "conv":
        x = torch.rand((d["n"], d["c"], d["h"], d["w"]), generator=g).to(dt)
        w = torch.rand((d["k"], d["c"], d["r"], d["s"]), generator=g).to(dt)
        st, pad = d.get("stride", 1), d.get("pad", 0)
        return (lambda: torch.nn.functional.conv2d(x, w, stride=st, padding=pad)), {"op": "conv2d"}
    lstm = torch.nn.LSTM(d["i"], d["h"]).to(dt).eval()
    x = torch.rand((d["t"], d["b"], d["i"]), generator=g).to(dt)

    def run() -> Any:
        with torch.inference_mode():
            return lstm(x)

    return run, {"op": "nn.LSTM"}


def _ort(k: Kernel, q: str, threads: int) -> tuple[Any, dict[str, Any]]:
    d, r = k.dims, _rng()
    T = {"fp32": onnx.TensorProto.FLOAT, "fp16": onnx.TensorProto.FLOAT16}
    if q not in ("fp32", "fp16", "int8") or (q == "int8" and k.op != "gemm") or (q == "fp16" and k.op == "lstm"):
        raise _unsupported("onnxruntime", k, q)
    if k.op == "gemm":
        if q == "int8":
            a = r.integers(0, 255, (d["m"], d["k"]), dtype=np.uint8)
            b = r.integers(-127, 127, (d["k"], d["n"]), dtype=np.int8)
            node = onnx.helper.make_node("MatMulInteger", ["a", "b"], ["y"])
            inputs = [
                onnx.helper.make_tensor_value_info("a", onnx.TensorProto.UINT8, a.shape),
                onnx.helper.make_tensor_value_info("b", onnx.TensorProto.INT8, b.shape),
            ]
            out = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.INT32, None)
        else:
            dt = DTYPES[q]
            a, b = r.random((d["m"], d["k"])).astype(dt), r.random((d["k"], d["n"])).astype(dt)
            node = onnx.helper.make_node("MatMul", ["a", "b"], ["y"])
            inputs = [onnx.helper.make_tensor_value_info(n, T[q], v.shape) for n, v in (("a", a), ("b", b))]
            out = onnx.helper.make_tensor_value_info("y", T[q], None)
        feeds: dict[str, np.ndarray] = {"a": a, "b": b}
        graph = onnx.helper.make_graph([node], "gemm", inputs, [out])
    elif k.op == "conv":
        dt = DTYPES[q]
        x = r.random((d["n"], d["c"], d["h"], d["w"])).astype(dt)
        w = onnx.helper.make_tensor(
            "w",
            T[q],
            (d["k"], d["c"], d["r"], d["s"]),
            r.random((d["k"], d["c"], d["r"], d["s"])).astype(dt).ravel().tolist(),
        )
        pad = d.get("pad", 0)
        node = onnx.helper.make_node("Conv", ["x", "w"], ["y"], strides=[d.get("stride", 1)] * 2, pads=[pad] * 4)
        feeds = {"x": x}
        graph = onnx.helper.make_graph(
            [node],
            "conv",
            [onnx.helper.make_tensor_value_info("x", T[q], x.shape)],
            [onnx.helper.make_tensor_value_info("y", T[q], None)],
            [w],
        )
    else:
        x = r.random((d["t"], d["b"], d["i"])).astype(np.float32)
        wts = {
            n: onnx.helper.make_tensor(
                n, onnx.TensorProto.FLOAT, s, (r.random(s) * 0.1).astype(np.float32).ravel().tolist()
            )
            for n, s in (("W", (1, 4 * d["h"], d["i"])), ("R", (1, 4 * d["h"], d["h"])))
        }
        node = onnx.helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=d["h"])
        feeds = {"x": x}
        graph = onnx.helper.make_graph(
            [node],
            "lstm",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x.shape)],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
            list(wts.values()),
        )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(
            onnx._serialize(model) if hasattr(onnx, "_serialize") else model.SerializeToString(),
            so,
            providers=["CPUExecutionProvider"],
        )
        sess.run(None, feeds)
    except Exception as exc:  # ORT has no kernel for this type on CPU
        raise NotAvailable(
            f"onnxruntime has no CPU {q} {k.op} kernel ({str(exc).strip().splitlines()[0][:120]})"
        ) from None
    run = sess.run
    return (lambda: run(None, feeds)), {"op": graph.node[0].op_type}


@lru_cache(maxsize=8)
def peak_gflops(threads: int) -> float:
    """The best fp32 GEMM rate measured here (numpy and torch, 1024^3), once per process."""
    best = 0.0
    g = Kernel("gemm", (("m", 1024), ("n", 1024), ("k", 1024)))
    for framework in ("numpy", "torch"):
        try:
            session = prepare(framework, g, "fp32", threads)
        except (NotAvailable, ImportError):
            continue
        session.infer()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            session.infer()
            times.append(time.perf_counter() - t0)
        best = max(best, g.flops() / statistics.median(times) / 1e9)
    return best
