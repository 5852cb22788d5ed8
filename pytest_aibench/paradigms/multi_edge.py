"""Multi-edge inference: the workload spread data-parallel over the topology's edges, and the model split
between an edge (its first layers) and the cloud (the rest) at the smallest activation. Simulated the
same way as the other edge-cloud paradigms (counted FLOPs, the nodes' GFLOP/s, the seeded links)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import declare
from pytest_aibench.errors import ArtifactError
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import ParadigmContext, finite
from pytest_aibench.paradigms.edge_cloud import SIMULATED, _base, _host, _measured, check_fits
from pytest_aibench.paradigms.remote import scores
from pytest_aibench.runtimes import HasModule
from pytest_aibench.sim.compute import compute_s

if TYPE_CHECKING:
    import torch
    from torch.utils import flop_counter
else:
    torch = lazy("torch")
    flop_counter = lazy("torch.utils.flop_counter")


class MultiEdgeInference:
    """The workload spread over N edges (data parallel), and the model split at a layer: the edge
    computes the head, ships the activation, the cloud computes the tail (torch models, any cut
    point searched unless params.split_at names one)."""

    name = "multi_edge_inference"

    @dataclass(frozen=True)
    class Params:
        edges: int | None = None  # edges to spread over (None: the topology's)
        split_at: int | str = "auto"  # layers on the edge for the split ("auto": the smallest activation)

    provides = {
        **SIMULATED,
        **declare(
            ("multi_edge.edges", "edges the workload is spread over", None),
            ("sim.dp_makespan_ms", "data parallel over the edges: time for the workload", False, "ms"),
            ("sim.dp_throughput_ips", "data parallel over the edges: inferences per second", True),
            ("sim.dp_speedup", "data parallel over the edges: speedup over one edge", True),
            ("sim.single_edge_makespan_ms", "the same workload on one edge", None, "ms"),
            ("multi_edge.split_at", "model split: layers run on the edge", None),
            ("multi_edge.split_layers", "model split: layers of the model", None),
            ("split.activation_bytes", "model split: bytes of the activation sent at the split", False),
            (
                "split.accuracy",
                "model split: accuracy of the split model (head on the edge, tail in the cloud)",
                True,
                "1",
            ),
            ("split.identical_predictions", "model split: every prediction equals the whole model's", True),
            ("sim.split_latency_ms", "model split: simulated latency per input", False, "ms"),
            ("sim.split_edge_only_ms", "model split: the whole model on the edge, simulated", None, "ms"),
            ("sim.split_edge_energy_j_per_inference", "model split: simulated edge energy per input", False, "J"),
        ),
    }

    def run(self, ctx: ParadigmContext) -> Measurement:
        topo = ctx.topology
        check_fits(topo.edge, ctx.facts.bytes, "edge")
        run = _host(ctx)
        xa, y, preds, latency = run.xa, run.y, run.preds, run.latency
        n_edges = int(ctx.param("edges", topo.edges))
        if ctx.distributed:  # each share on an edge worker
            idx = [np.arange(k, len(y), n_edges) for k in range(n_edges)]
            parts = ctx.backend.map(
                "edge",
                scores,
                [(ctx.runner, ctx.artifact, ctx.node, ctx.settings, xa[i], ctx.settings.batch_size) for i in idx],
            )
            preds = preds.copy()
            for i, part in zip(idx, parts, strict=True):
                preds[i] = finite(part, "an edge worker").argmax(-1)
        t_edge = compute_s(topo.edge, ctx.facts)
        shares = [len(range(k, len(y), n_edges)) for k in range(n_edges)]
        makespan = max(shares) * t_edge
        up, down = topo.channels(ctx.seed)
        out = 4 * ctx.dataset.num_classes
        # both plans end with the answers gathered where they are consumed (an outage is waited out)
        gather = [up.transfer_waiting(out * s, makespan) for s in shares]
        single = len(y) * t_edge
        single_total = single + up.transfer_waiting(out * len(y), single)
        dp_total = makespan + max(gather)
        m = _base(ctx, run, preds)
        m.metrics.update(
            {
                "multi_edge.edges": n_edges,
                "sim.dp_makespan_ms": dp_total * 1e3,
                "sim.dp_throughput_ips": len(y) / dp_total,
                "sim.single_edge_makespan_ms": single_total * 1e3,
                "sim.dp_speedup": single_total / dp_total,
                "bytes.up": up.bytes_sent,
                "offload_ratio": 0.0,
                **_measured(latency, topo.edge, ctx),
            }
        )
        module = ctx.session.module if isinstance(ctx.session, HasModule) else None
        if module is not None:
            m.metrics.update(_split(ctx, module, xa, y, preds, topo))
        else:
            m.info["split"] = "model split needs a torch model whose top level is a sequence of layers"
        return m


def _split(ctx: ParadigmContext, module: Any, xa: np.ndarray, y: np.ndarray, preds: np.ndarray, topo: Any) -> dict:
    if not isinstance(module, torch.nn.Sequential) or len(module) < 2:
        return {}
    sample = torch.from_numpy(np.ascontiguousarray(xa[:1]))
    layer_flops, acts = [], []
    with torch.inference_mode():
        h = sample
        for layer in module:
            with flop_counter.FlopCounterMode(display=False) as fc:
                h = layer(h)
            layer_flops.append(fc.get_total_flops())
            acts.append(int(h.numel() * 4))
    total = sum(layer_flops)
    up, down = topo.channels(ctx.seed + 1)
    out_bytes = 4 * ctx.dataset.num_classes
    cuts = range(1, len(module))
    wanted = ctx.param("split_at")
    plans = {}
    for k in cuts:
        head = sum(layer_flops[:k]) / (topo.edge.gflops * 1e9)
        tail = sum(layer_flops[k:]) / (topo.cloud.gflops * 1e9)
        link = (
            acts[k - 1] * 8 / (topo.uplink.bandwidth_mbps * 1e6)
            + topo.uplink.latency_ms / 1e3
            + out_bytes * 8 / (topo.downlink.bandwidth_mbps * 1e6)
            + topo.downlink.latency_ms / 1e3
        )
        plans[k] = head + link + tail
    k = min(plans, key=lambda cut: plans[cut]) if wanted == "auto" else int(wanted)
    if k not in plans:
        raise ArtifactError(f"split_at {k} is not a cut point of this model (1..{len(module) - 1})")
    t_up = up.transfer(acts[k - 1], 0.0)
    t_down = down.transfer(out_bytes, 0.0)
    with torch.inference_mode():  # the split really runs: head then tail gives the full model's answers
        x = torch.from_numpy(np.ascontiguousarray(xa))
        split_preds = finite(module[k:](module[:k](x)).numpy(), "the split model").argmax(-1)
    head_s = sum(layer_flops[:k]) / (topo.edge.gflops * 1e9)
    tail_s = sum(layer_flops[k:]) / (topo.cloud.gflops * 1e9)
    return {
        "multi_edge.split_at": k,
        "multi_edge.split_layers": len(module),
        "split.activation_bytes": acts[k - 1],
        "split.accuracy": float((split_preds == y).mean()),
        "split.identical_predictions": bool((split_preds == preds).all()),
        "sim.split_latency_ms": (head_s + (t_up or 0) + tail_s + (t_down or 0)) * 1e3,
        "sim.split_edge_only_ms": total / (topo.edge.gflops * 1e9) * 1e3,
        "sim.split_edge_energy_j_per_inference": topo.edge.max_w * head_s,
    }
