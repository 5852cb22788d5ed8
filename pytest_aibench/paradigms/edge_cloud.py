"""Inference across a simulated edge-cloud topology: edge_only, cloud_only, joint_inference and
multi_edge_inference (multi_edge.py). Predictions really run on the host; every ``sim.*`` time is derived from the
model's counted FLOPs, the nodes' GFLOP/s and the seeded links, so the same seed gives the same
simulated times everywhere. Measured host times are reported beside them, labelled ``measured``."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench import tasks
from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.errors import ArtifactError
from pytest_aibench.measure import Measurement
from pytest_aibench.measure.energy import EnergyMeter
from pytest_aibench.measure.stats import percentile
from pytest_aibench.measure.timing import time_calls
from pytest_aibench.paradigms import ParadigmContext
from pytest_aibench.paradigms.remote import scores
from pytest_aibench.paradigms.single import prediction_hash
from pytest_aibench.sim import roofline
from pytest_aibench.sim.calibrate import host_gflops
from pytest_aibench.sim.compute import compute_s, flops_only_s, gflops_of, host_calibration, model_of
from pytest_aibench.sim.node import Node
from pytest_aibench.tasks import raw

if TYPE_CHECKING:
    import torch
    from torch.utils import flop_counter
else:
    torch = lazy("torch")
    flop_counter = lazy("torch.utils.flop_counter")

#: requests arrive this often (simulated seconds) unless params.interval_s says otherwise
DEFAULT_INTERVAL_S = 0.05


#: what every edge-cloud paradigm records: the simulated deployment, and its own check on the host it ran on
SIMULATED = declare(
    ("sim.latency.p50_ms", "simulated end-to-end latency, median", False, "ms"),
    ("sim.latency.p90_ms", "simulated end-to-end latency, 90th percentile", False, "ms"),
    ("sim.latency.p99_ms", "simulated end-to-end latency, 99th percentile", False, "ms"),
    ("sim.latency.mean_ms", "simulated end-to-end latency, mean", False, "ms"),
    ("sim.edge_energy_j_per_inference", "simulated edge energy per inference", False, "J"),
    ("offload_ratio", "share of inputs answered by the cloud", None, "1"),
    ("bytes.up", "bytes sent edge to cloud", False),
    ("bytes.down", "bytes sent cloud to edge", False),
    ("measured.host_p50_ms", "the item's batch-1 latency on this host, median", None, "ms"),
    ("measured.host_gflops", "this host's calibrated GEMM rate, GFLOP/s", None),
    (
        "measured.*_scaled_p50_ms",
        "the host's median scaled by GFLOP/s to a simulated node (named in the metric)",
        None,
        "ms",
    ),
    ("measured.transfer_ms", "wall time to move one input between the roles' places (cluster runs)", None, "ms"),
    ("measured.transfer_bytes", "bytes of that input", None),
    (
        "sim.error_pct",
        "the device model's own error on the calibrated host: roofline-simulated / measured latency "
        "- 1, in % (both the 5th percentile: the host's speed when a neighbour leaves it alone)",
        None,
    ),
    (
        "sim.flops_only_error_pct",
        "the same error for FLOPs / calibrated GEMM peak (the model before the roofline), in %",
        None,
    ),
    (
        "sim.host_slowdown",
        "how much slower the probe ran beside the item than at calibration (the load the error was measured under)",
        None,
    ),
    ("sim.host_gflops", "the calibrated host's peak: ONNX Runtime's 512x512 float32 GEMM, GFLOP/s", None),
    (
        "measured.host_p5_ms",
        "the item's batch-1 latency on the host, 5th percentile of calls interleaved with the "
        "probe (what sim.error_pct compares with)",
        None,
        "ms",
    ),
)
SIMULATED |= column(
    SIMULATED,
    {
        "sim.latency.p50_ms": ("sim p50 ms", "{:.2f}"),
        "sim.latency.p99_ms": ("sim p99 ms", "{:.2f}"),
        "offload_ratio": ("offload", "{:.2f}"),
        "bytes.up": ("bytes up", "{:.0f}"),
        "sim.edge_energy_j_per_inference": ("edge mJ/inf", "{:.3f}", 1000.0),
    },
)
#: a device's simulated rate (edge_only)
DEVICE = declare(
    ("sim.fps", "simulated frames per second on the edge device", True),
    ("sim.fps_per_w", "simulated frames per second per watt (busy power)", True),
    ("sim.fps_per_price", "simulated frames per second per unit price per hour", True),
)
DEVICE |= column(
    DEVICE,
    {
        "sim.fps": ("sim FPS", "{:.1f}", 1.0, 3),
        "sim.fps_per_w": ("FPS/W", "{:.1f}"),
        "sim.fps_per_price": ("FPS/price", "{:.0f}"),
    },
)
#: what the cloud answers (cloud_only, joint_inference)
CLOUD = declare(
    ("sim.cloud_energy_j_per_inference", "simulated cloud energy per inference", False, "J"),
    ("sim.availability", "share of requests answered (cloud_only during outages)", True, "1"),
    ("link.retransmissions", "simulated link retransmissions (lossy links)", False),
)


def watts(value: float | None) -> float:
    """A node's power figure; a host node without one draws nothing in the simulation."""
    return value or 0.0


def check_fits(node: Node, model_bytes: int | None, role: str) -> None:
    """A model (weights plus a working set of twice their size) must fit the node's memory."""
    if node.memory_mb is None or not model_bytes:
        return
    need = 3 * model_bytes / 2**20
    if need > node.memory_mb:
        raise ArtifactError(
            f"the model needs about {need:.1f} MiB (weights x3) but the {role} node {node.name!r} "
            f"has {node.memory_mb:g} MiB: it does not fit"
        )


def _pct(values: list[float], prefix: str) -> dict[str, float]:
    if not values:
        return {}
    s = sorted(v * 1e3 for v in values)
    return {
        f"{prefix}.p50_ms": percentile(s, 50),
        f"{prefix}.p90_ms": percentile(s, 90),
        f"{prefix}.p99_ms": percentile(s, 99),
        f"{prefix}.mean_ms": statistics.fmean(s),
    }


def role_scores(ctx: ParadigmContext, role: str, xa: np.ndarray) -> np.ndarray:
    """The case's model scored where ``role`` runs: here, or on a worker offering that resource."""
    if not ctx.distributed:
        return raw.concat(
            [ctx.session.infer(xa[i : i + ctx.settings.batch_size]) for i in range(0, len(xa), ctx.settings.batch_size)]
        )
    return ctx.backend.run(role, scores, ctx.runner, ctx.artifact, ctx.node, ctx.settings, xa, ctx.settings.batch_size)


def _measured_move(ctx: ParadigmContext, data: np.ndarray, src: str, dst: str) -> dict[str, Any]:
    """What moving ``data`` between two roles' workers really took (only with a cluster)."""
    if len(data) == 0:
        return {}
    seconds = ctx.backend.move(data, src, dst)
    return (
        {} if seconds is None else {"measured.transfer_ms": seconds * 1e3, "measured.transfer_bytes": int(data.nbytes)}
    )


@dataclass
class HostRun:
    """What really ran on this host: inputs, labels, scores, and the measured latency and pass."""

    xa: np.ndarray
    y: np.ndarray
    scores: np.ndarray
    latency: list[int]
    wall_s: float
    energy: dict[str, Any]
    dense: bool = False  # a task's raw outputs, not class scores: "predictions" are the image ids (answered)

    @property
    def preds(self) -> np.ndarray:
        return np.array(self.y) if self.dense else self.scores.argmax(-1)

    def answer_bytes(self, num_classes: int) -> int:
        """What the cloud sends back per input: its class scores, or a task's raw outputs."""
        return raw.sample_bytes(self.scores) if self.dense else 4 * int(num_classes)

    @property
    def confidence(self) -> np.ndarray:
        z = self.scores - self.scores.max(-1, keepdims=True)
        return (np.exp(z) / np.exp(z).sum(-1, keepdims=True)).max(-1)


def _host(ctx: ParadigmContext, role: str = "edge") -> HostRun:
    """The role's model over the evaluation split (timed and metered: the measured throughput and
    energy), then measured batch-1 latencies."""
    s = ctx.settings
    x, y = ctx.dataset.eval_subset(s.eval_samples)
    xa = ctx.session.adapt(x)
    ctx.session.infer(xa[: s.batch_size])
    t0 = time.perf_counter()
    with EnergyMeter(ctx.node.idle_w, ctx.node.max_w, ctx.node.threads) as meter:
        scores = role_scores(ctx, role, xa)
    wall = time.perf_counter() - t0
    ones = [np.ascontiguousarray(xa[i : i + 1]) for i in range(min(len(xa), 64))]
    latency = time_calls(
        ctx.session.infer, ones, min(10, int(s.warmup) if s.warmup != "stable" else 10), min(s.latency_samples, 100)
    )
    if ctx.dense and not ctx.untrained:
        tasks.check_outputs(ctx.task, raw.head(scores, 1), ctx.dataset, ctx.case.id)
    return HostRun(xa, y, scores, latency, wall, {} if ctx.distributed else meter.result(len(y)), ctx.dense)


def _measured(latency_ns: list[int], node: Node, ctx: ParadigmContext, xa: np.ndarray | None = None) -> dict[str, Any]:
    """Measured host latency, and that latency scaled to ``node`` by the calibrated speed ratio; on the
    calibrated ``host`` node, the simulator's own error, measured beside the item."""

    host_ms = statistics.median(latency_ns) / 1e6
    out: dict[str, Any] = {"measured.host_p50_ms": host_ms, "measured.host_gflops": host_gflops(ctx.node.threads)}
    if node.calibrated:
        out |= _own_error(node, ctx, xa, host_ms)
    elif node.gflops:
        out[f"measured.{node.name}_scaled_p50_ms"] = host_ms * out["measured.host_gflops"] / node.gflops
    return out


#: item calls (each followed by one probe of the calibration's GEMM) behind the simulator's own error
OWN_ERROR_CALLS = 200


def _own_error(node: Node, ctx: ParadigmContext, xa: np.ndarray | None, host_ms: float) -> dict[str, Any]:
    """The simulator's prediction for this host against the latency measured here. The item's calls and
    the calibration's probe alternate, so a neighbour that slows one slows the other: each call is brought
    back to the calibration's speed by its probe's slowdown, and the error stays the model's, not the host's."""
    cal = host_calibration(node)
    slowdown, measured_ms = 1.0, host_ms
    if cal is not None and xa is not None and len(xa):
        probe = roofline.Probe(node.threads)
        ones = [np.ascontiguousarray(xa[i % len(xa) : i % len(xa) + 1]) for i in range(OWN_ERROR_CALLS)]
        ctx.session.infer(ones[0])
        item_s = []
        for one in ones:
            t0 = time.perf_counter()
            ctx.session.infer(one)
            item_s.append(time.perf_counter() - t0)
            probe()
        slowdown, measured_ms = probe.slowdown(cal), roofline.low(item_s) * 1e3
    simulated_ms = compute_s(node, ctx.facts, ctx.case.quantization) * 1e3
    flops_ms = flops_only_s(node, ctx.facts, ctx.case.quantization) * 1e3
    out: dict[str, Any] = {
        "sim.host_gflops": gflops_of(node),
        "sim.error_pct": (simulated_ms / measured_ms - 1) * 100,
        "sim.flops_only_error_pct": (flops_ms / measured_ms - 1) * 100,
        "sim.host_slowdown": slowdown,
        "measured.host_p5_ms": measured_ms,
    }
    return out


def _base(ctx: ParadigmContext, run: HostRun, preds: np.ndarray) -> Measurement:
    return Measurement(
        predictions=preds,
        labels=run.y,
        latency_ns=run.latency,
        seed=ctx.seed,
        scores=run.scores,
        eval_wall_s=run.wall_s,
        eval_count=len(run.y),
        energy=run.energy,
        info={
            "topology": ctx.topology.describe(),
            "params": dict(ctx.params),
            "backend": ctx.backend.describe(),
            "prediction_hash": prediction_hash(preds),
            "energy_region": "host accuracy pass",
            "times": "sim.*: from the roofline (counted FLOPs and bytes per operator, the node's "
            "peaks and bandwidth, committed per-kind efficiencies) or counted FLOPs alone, "
            "and the seeded link model (deterministic); "
            "measured.*, throughput.*, energy.*: this host's wall time and power model",
        },
    )


class EdgeOnly:
    name = "edge_only"

    @dataclass(frozen=True)
    class Params:
        """The edge alone: nothing to choose."""

    provides = {**DEVICE, **SIMULATED}

    def run(self, ctx: ParadigmContext) -> Measurement:
        topo = ctx.topology
        check_fits(topo.edge, ctx.facts.bytes, "edge")
        run = _host(ctx)
        y, latency, edge = run.y, run.latency, topo.edge
        t = compute_s(edge, ctx.facts, ctx.case.quantization)
        m = _base(ctx, run, run.preds)
        fps = 1.0 / t
        m.metrics.update(
            {
                **_pct([t] * len(y), "sim.latency"),
                "sim.edge_energy_j_per_inference": watts(edge.max_w) * t,
                "sim.fps": fps,
                # a device without a power or price figure has no FPS/W or FPS/price: absent, not 0
                **({"sim.fps_per_w": fps / edge.max_w} if edge.max_w else {}),
                **({"sim.fps_per_price": fps / edge.price_per_hour} if edge.price_per_hour else {}),
                "offload_ratio": 0.0,
                "bytes.up": 0,
                "bytes.down": 0,
                **_measured(latency, edge, ctx, run.xa),
            }
        )
        m.info["device_model"] = model_of(edge, ctx.facts)
        if edge.calibrated and host_calibration(edge) is not None:
            m.info["calibration"] = host_calibration(edge).describe()  # type: ignore[union-attr]
        return m


class CloudOnly:
    name = "cloud_only"

    @dataclass(frozen=True)
    class Params:
        interval_s: float = DEFAULT_INTERVAL_S  # seconds between requests (the arrival process)

    provides = {**SIMULATED, **CLOUD}

    def run(self, ctx: ParadigmContext) -> Measurement:
        topo = ctx.topology
        check_fits(topo.cloud, ctx.facts.bytes, "cloud")
        run = _host(ctx, role="cloud")
        xa, y, preds, latency = run.xa, run.y, run.preds, run.latency
        up, down = topo.channels(ctx.seed)
        interval = float(ctx.param("interval_s"))
        up.rate_per_device = 1.0 / interval
        t_cloud = compute_s(topo.cloud, ctx.facts)
        in_bytes, out_bytes = int(xa[0].nbytes), run.answer_bytes(ctx.dataset.num_classes)
        answered, e2e = np.zeros(len(y), bool), []
        for i in range(len(y)):  # the cloud pays the uplink of every input
            t0 = i * interval
            t_up = up.transfer(in_bytes, t0)
            t_down = down.transfer(out_bytes, t0 + (t_up or 0) + t_cloud) if t_up is not None else None
            if t_up is None or t_down is None:
                continue  # no answer during an outage: counted as a wrong prediction
            answered[i] = True
            e2e.append(t_up + t_cloud + t_down)
        final = np.where(answered, preds, -1)
        m = _base(ctx, run, final)
        m.metrics.update(
            {
                **_pct(e2e, "sim.latency"),
                "sim.availability": float(answered.mean()),
                "offload_ratio": 1.0,
                "bytes.up": up.bytes_sent,
                "bytes.down": down.bytes_sent,
                "sim.cloud_energy_j_per_inference": watts(topo.cloud.max_w) * t_cloud,
                "sim.edge_energy_j_per_inference": watts(topo.edge.idle_w) * (statistics.fmean(e2e) if e2e else 0),
                "link.retransmissions": up.retransmissions + down.retransmissions,
                **_measured(latency, topo.cloud, ctx),
                **_measured_move(ctx, xa, "edge", "cloud"),
            }
        )
        return m
