"""A roofline device model: a model's work counted per operator kind, a device's peak compute per
precision and its memory bandwidth, and per-kind efficiencies calibrated on this host.

FLOPs alone predict badly: small convolutions, depthwise convolutions and element-wise operators are
bound by memory and per-operator dispatch, not by arithmetic, so a FLOPs-only estimate of this host's
latency was off by −64…−88 % on the compact models. Here each operator kind k of a model contributes

    t_k = max(F_k / (peak(precision) × e_k), B_k / bandwidth) + n_k × overhead

with F_k and B_k the FLOPs and bytes moved counted from the model's ONNX graph (batch 1), e_k the
fraction of peak that kind reaches, measured on this host by single-operator graphs on ONNX Runtime
(:func:`calibrate`), and ``overhead`` the per-operator dispatch cost measured the same way. A device
profile gives its peaks and bandwidth (each cited, or marked illustrative); the efficiencies are the
host's, the one place they can be measured.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.files import cache_root
from pytest_aibench.sim.opcount import BYTES, KINDS, Counts, count, onnx_of  # noqa: F401 - the model reads them

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort
else:
    onnx = lazy("onnx")
    ort = lazy("onnxruntime")


@dataclass(frozen=True)
class Calibration:
    """What this host's ONNX Runtime reaches: GEMM peak, streaming bandwidth, each kind's efficiency
    against the roofline bound, per-operator overhead, and a probe's time to track the host's speed."""

    peak_gflops: float
    bandwidth_gbs: float
    #: per kind, (operator size, efficiency) points: FLOPs -> share of peak compute for the compute kinds,
    #: bytes -> share of the streaming bandwidth for "memory"; interpolated in log size between them
    efficiency: dict[str, list[tuple[float, float]]]
    overhead_s: float
    threads: int
    call_s: float = 0.0  # one inference call's fixed cost
    probe_s: float = 0.0
    spread: dict[str, float] = field(default_factory=dict)  # relative spread of each figure over repeats
    measured: str = ""  # when
    cached: str | None = None  # the cache file it was read from

    def describe(self) -> dict[str, Any]:
        return {
            "peak_gflops": self.peak_gflops,
            "bandwidth_gbs": self.bandwidth_gbs,
            "efficiency": {k: [list(p) for p in v] for k, v in self.efficiency.items()},
            "overhead_us": self.overhead_s * 1e6,
            "call_us": self.call_s * 1e6,
            "threads": self.threads,
            "spread": dict(self.spread),
            "measured": self.measured,
            "cached": self.cached,
            "how": "single-operator ONNX graphs on this host's ONNX Runtime (sim.roofline.calibrate)",
        }


# -- counting -----------------------------------------------------------------------------------------


# -- predicting -----------------------------------------------------------------------------------------


def _curve(points: list[tuple[float, float]], size: float) -> float:
    """The efficiency at ``size``, linear in log size between calibrated points, flat beyond them."""
    if not points:
        return 1.0
    pts = sorted(points)
    if size <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if size <= x1:
            w = (math.log(size) - math.log(x0)) / (math.log(x1) - math.log(x0)) if x1 > x0 else 1.0
            return y0 + w * (y1 - y0)
    return pts[-1][1]


def predict_s(
    counts: dict[str, Counts],
    peak_gflops: float,
    bandwidth_gbs: float,
    efficiency: dict[str, list[tuple[float, float]]],
    overhead_s: float,
    precision: str = "fp32",
    call_s: float = 0.0,
) -> float:
    """Seconds per sample: each operator at the slower of its compute and memory bounds (each at the
    efficiency the host reaches for its kind and size), plus per-operator dispatch and the call's cost."""
    scale = BYTES.get(precision, 4.0) / 4.0
    total = call_s
    memory_curve = efficiency.get("memory", [])
    for kind, c in counts.items():
        curve = efficiency.get(kind, [])
        for flops, moved in c.each:
            compute = (
                flops / (peak_gflops * 1e9 * max(1e-6, _curve(curve, max(flops, 1.0))))
                if kind != "elementwise"
                else 0.0
            )
            b = moved * scale
            memory = b / (bandwidth_gbs * 1e9 * max(1e-6, _curve(memory_curve, max(b, 1.0))))
            total += max(compute, memory) + overhead_s
    return total


def flops_only_s(counts: dict[str, Counts], gflops: float) -> float:
    return sum(c.flops for c in counts.values()) / (gflops * 1e9)


# -- calibrating ----------------------------------------------------------------------------------------


def _model(nodes: list[Any], shape_in: list[int], shape_out: list[int], inits: list[Any], name: str) -> Any:
    h, tp = onnx.helper, onnx.TensorProto
    graph = h.make_graph(
        nodes,
        name,
        [h.make_tensor_value_info("x", tp.FLOAT, shape_in)],
        [h.make_tensor_value_info("y", tp.FLOAT, shape_out)],
        inits,
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


#: the single-operator graphs: (kind, size parameter) -> a small and a large operator of each kind
POINTS = {
    "gemm": (64, 512),
    "conv": ((16, 16), (32, 32), (64, 56)),
    "depthwise": ((32, 16), (64, 32), (128, 56)),
    "memory": (1 << 14, 1 << 18, 1 << 22),
    "overhead": (1, 64),
}


def _graph(kind: str, size: Any) -> tuple[Any, dict[str, np.ndarray], float, float]:
    """A one-kind ONNX graph at ``size``, its feed, and its FLOPs and bytes moved."""
    h, tp = onnx.helper, onnx.TensorProto
    rng = np.random.default_rng(0)
    if kind == "gemm":
        n = int(size)
        w = rng.random((n, n), dtype=np.float32)
        model = _model(
            [h.make_node("MatMul", ["x", "w"], ["y"])],
            [n, n],
            [n, n],
            [h.make_tensor("w", tp.FLOAT, w.shape, w.ravel())],
            kind,
        )
        return model, {"x": rng.random((n, n), dtype=np.float32)}, 2.0 * n**3, 12.0 * n * n
    if kind in ("conv", "depthwise"):
        c, side = size
        group = 1 if kind == "conv" else c
        w = rng.random((c, c // group, 3, 3), dtype=np.float32)
        model = _model(
            [h.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], group=group)],
            [1, c, side, side],
            [1, c, side, side],
            [h.make_tensor("w", tp.FLOAT, w.shape, w.ravel())],
            kind,
        )
        return (
            model,
            {"x": rng.random((1, c, side, side), dtype=np.float32)},
            2.0 * c * side * side * (c // group) * 9,
            4.0 * (2 * c * side * side + w.size),
        )
    if kind == "memory":
        n = int(size)
        model = _model([h.make_node("Relu", ["x"], ["y"])], [n], [n], [], kind)
        return model, {"x": rng.random((n,), dtype=np.float32) - 0.5}, float(n), 8.0 * n
    ops = int(size)  # overhead: chained operators on a tiny tensor
    nodes = [
        h.make_node("Relu", ["x" if i == 0 else f"t{i}"], [f"t{i + 1}" if i < ops - 1 else "y"]) for i in range(ops)
    ]
    return _model(nodes, [8], [8], [], kind), {"x": np.ones(8, np.float32)}, 0.0, 0.0


def _session(model: Any, threads: int, spin: bool = True) -> Any:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model.ir_version = min(model.ir_version, 10)
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


#: the quantile of call times every figure is taken at, calibration and item alike: the host's speed when
#: a neighbour leaves it alone, which a busy neighbour moves far less than the median
QUANTILE = 0.05


def low(times: list[float]) -> float:
    """The QUANTILE of ``times`` (nearest rank)."""
    s = sorted(times)
    return s[min(len(s) - 1, int(QUANTILE * len(s)))]


def _times(sess: Any, feed: dict[str, np.ndarray], calls: int) -> list[float]:
    sess.run(None, feed)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return times


PROBE = ("gemm", 512)  # the peak
#: the speed probe: a small GEMM on the item's threads whose pool never spins (it must not take the item's cores)
PROBE_GRAPH = ("gemm", 128)


def _cache_file(threads: int) -> Path:
    from pytest_aibench.machine import cpu_summary  # noqa: PLC0415 - psutil, only when calibrating

    cpu = cpu_summary()
    key = json.dumps(
        [cpu["cpu"], cpu["isa"], threads, metadata.version("onnxruntime"), os.cpu_count(), CALIBRATION_VERSION]
    )
    return cache_root().parent / "roofline" / f"host-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


#: bumped when the calibration's graphs or rules change (a cached calibration of another version is remeasured)
CALIBRATION_VERSION = 4


@lru_cache(maxsize=8)
def calibrate(threads: int = 1, repeats: int = 5) -> Calibration:
    """This host's calibration: measured once per machine (CPU, instruction set, threads, ONNX Runtime
    version) and kept in the cache with its spread, so one item's ``sim.error_pct`` does not swing with
    the calibration's own noise from run to run; ``AIBENCH_RECALIBRATE=1`` measures it again. The item's
    interleaved :class:`Probe` says how much slower the host runs now than then."""
    path = _cache_file(threads)
    if os.environ.get("AIBENCH_RECALIBRATE") != "1":
        try:
            rec = json.loads(path.read_text())
            return Calibration(
                rec["peak_gflops"],
                rec["bandwidth_gbs"],
                {k: [tuple(p) for p in v] for k, v in rec["efficiency"].items()},
                rec["overhead_s"],
                rec["threads"],
                rec["call_s"],
                rec["probe_s"],
                rec["spread"],
                measured=rec.get("measured", "?"),
                cached=str(path),
            )
        except (OSError, ValueError, KeyError, TypeError):
            pass
    cal = measure_calibration(threads, repeats)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps(
                {
                    "peak_gflops": cal.peak_gflops,
                    "bandwidth_gbs": cal.bandwidth_gbs,
                    "efficiency": cal.efficiency,
                    "overhead_s": cal.overhead_s,
                    "threads": cal.threads,
                    "call_s": cal.call_s,
                    "probe_s": cal.probe_s,
                    "spread": cal.spread,
                    "measured": cal.measured,
                }
            )
        )
        os.replace(tmp, path)
    except OSError:  # a read-only cache: measured every process, as before
        pass
    return cal


def measure_calibration(threads: int = 1, repeats: int = 5) -> Calibration:
    """This host's figures, measured ``repeats`` times in rotation (medians kept, spread recorded): the
    large GEMM's rate is the peak, the mid-size streaming operator's the bandwidth; every other point is
    an efficiency against them."""
    built = {(k, sz): _graph(k, sz) for k, sizes in POINTS.items() for sz in sizes}
    times: dict[tuple[str, Any], list[float]] = {key: [] for key in built}
    probe = Probe(threads)
    for _ in range(repeats):  # in rotation: a neighbour's burst touches every figure, not one
        for key, (model, feed, _, _) in built.items():
            # one session at a time, spinning as a runtime's does by default: a pool left spinning beside
            # the one being timed would take its cores
            sess = _session(model, threads)
            times[key] += _times(sess, feed, 7 if key == ("memory", POINTS["memory"][-1]) else 15)
            del sess
            probe()
    t = {key: low(v) for key, v in times.items()}  # the same low quantile over every repeat's calls
    spread = {
        f"{k}@{sz}": (max(v) - min(v)) / statistics.median(v)
        for (k, sz), v in times.items()
        if statistics.median(v) > 0
    }
    call = t[("overhead", 1)]
    overhead = max(0.0, t[("overhead", 64)] - call) / 63
    peak = built[PROBE][2] / max(1e-9, t[PROBE] - call) / 1e9
    # the bandwidth figure is the mid-size (cache-spilling) stream's: a neighbour moves it far less than
    # the largest's; the curve says how much slower or faster the other sizes stream
    ref = ("memory", POINTS["memory"][1])
    bandwidth = built[ref][3] / max(1e-9, t[ref] - call) / 1e9
    eff: dict[str, list[tuple[float, float]]] = {}
    for (k, sz), (_, _, f, b) in built.items():
        spent = max(1e-9, t[(k, sz)] - call - overhead)
        if k in ("gemm", "conv", "depthwise"):  # the share of peak that makes the roofline time the measured
            eff.setdefault(k, []).append((f, min(1.0, f / (peak * 1e9) / spent)))
        elif k == "memory":
            eff.setdefault(k, []).append((b, b / (bandwidth * 1e9) / spent))
    return Calibration(
        peak,
        bandwidth,
        eff,
        overhead,
        threads,
        call_s=call,
        probe_s=low(probe.times),
        spread=spread,
        measured=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )


class Probe:
    """A small GEMM timed between calibration steps and again between an item's own timed calls: how much
    slower the host runs now than when it was calibrated (``sim.host_slowdown``, a record of the load the
    error was measured under; the error itself compares low quantiles, which a neighbour moves little)."""

    def __init__(self, threads: int):
        model, self.feed, _, _ = _graph(*PROBE_GRAPH)
        self.sess = _session(model, threads, spin=False)
        self.sess.run(None, self.feed)
        self.times: list[float] = []

    def __call__(self) -> None:
        self.sess.run(None, self.feed)  # its operands back in cache, whatever ran before: hot in both contexts
        t0 = time.perf_counter()
        self.sess.run(None, self.feed)
        self.times.append(time.perf_counter() - t0)

    def slowdown(self, cal: Calibration) -> float:
        if not self.times or cal.probe_s <= 0:
            return 1.0
        return max(0.05, low(self.times) / cal.probe_s)


def finite(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x)


def main(argv: list[str] | None = None) -> int:
    """``python -m pytest_aibench.sim.roofline [THREADS]``: this host's calibration as the JSON committed
    in ``fixtures/sim/efficiency.json`` (the simulated devices' per-kind efficiencies)."""
    from pytest_aibench.machine import cpu_summary  # noqa: PLC0415 - psutil, only for this command

    threads = int((argv if argv is not None else sys.argv[1:] or ["2"])[0])
    cal = measure_calibration(threads, repeats=5)
    cpu = cpu_summary()
    print(
        json.dumps(
            {
                "what": "per-kind efficiency curves of the roofline (sim.roofline): (operator FLOPs or bytes, "
                "share of peak compute or of streaming bandwidth), measured by single-operator ONNX "
                "graphs on ONNX Runtime; simulated devices apply them to their own peaks",
                "command": f"python -m pytest_aibench.sim.roofline {threads}",
                "measured": str(date.today()),
                "machine": {"cpu": cpu["cpu"], "isa_level": cpu["isa_level"], "isa": cpu["isa"]},
                **cal.describe(),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
