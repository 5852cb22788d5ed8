"""``joint_inference``: a small model on the edge, a large one in the cloud; the inputs the edge doubts go up.

Ianvs's joint inference, for any task: the mining rule reads the edge's confidence (top-class
probability, or for detection the share of doubtful boxes: Ianvs's box-level rule), and an answered
input takes the cloud's raw outputs, so detections, masks or class scores are judged alike. During an
outage the edge's own answer stands, and is counted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_aibench import tasks
from pytest_aibench.core.metric import declare
from pytest_aibench.errors import ArtifactError
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import ParadigmContext, finite
from pytest_aibench.paradigms.edge_cloud import (
    CLOUD,
    DEFAULT_INTERVAL_S,
    SIMULATED,
    HostRun,
    _base,
    _host,
    _measured,
    _measured_move,
    _pct,
    check_fits,
    watts,
)
from pytest_aibench.paradigms.remote import scores
from pytest_aibench.paradigms.stages import stage
from pytest_aibench.sim.compute import compute_s
from pytest_aibench.tasks import raw


class JointInference:
    """A small model on the edge, a large one in the cloud; hard examples (low confidence) go up.
    During an outage the edge's own answer stands, and is counted."""

    name = "joint_inference"

    @dataclass(frozen=True)
    class Params:
        cloud_model: str | None = None  # the suite's model that answers hard examples (required)
        threshold: float = 0.8  # the mining rule's confidence threshold
        interval_s: float = DEFAULT_INTERVAL_S  # seconds between requests
        hard_example_mining: str | None = None  # a mining stage (built-in name or module:callable)
        rule: str = "confidence"  # the same, by its older name (hard_example_mining wins)

    provides = {
        **SIMULATED,
        **CLOUD,
        **declare(
            ("hard_ratio", "share of inputs the mining rule called hard", None, "1"),
            ("outage_fallbacks", "hard inputs answered by the edge because the link was out", None),
            ("accuracy_edge_only", "the edge model alone", True, "1"),
            ("accuracy_cloud_only", "the cloud model alone", True, "1"),
            ("quality_edge_only", "the edge model alone, by the task's headline (detection mAP, mIoU, ...)", True),
            ("quality_cloud_only", "the cloud model alone, by the task's headline", True),
        ),
    }

    def run(self, ctx: ParadigmContext) -> Measurement:
        topo = ctx.topology
        cloud_model = ctx.param("cloud_model")
        if not cloud_model:
            raise ArtifactError("joint_inference needs params.joint_inference.cloud_model: the suite's large model")
        check_fits(topo.edge, ctx.facts.bytes, "edge")
        run = _host(ctx)
        xa, y, edge_preds, latency = run.xa, run.y, run.preds, run.latency
        conf = _confidence(ctx, run)
        cloud_scores, cloud_facts = _cloud_outputs(ctx, run, cloud_model)
        cloud_preds = np.array(y) if ctx.dense else cloud_scores.argmax(-1)
        threshold = float(ctx.param("threshold"))
        rule, mine = _mining(ctx)
        hard = np.asarray(mine(conf, threshold), dtype=bool)
        up, down = topo.channels(ctx.seed)
        interval = float(ctx.param("interval_s"))
        up.rate_per_device = float(hard.mean()) / interval
        t_edge, t_cloud = compute_s(topo.edge, ctx.facts), compute_s(topo.cloud, cloud_facts)
        in_bytes, out_bytes = int(xa[0].nbytes), run.answer_bytes(ctx.dataset.num_classes)
        final, e2e, fallbacks, offloaded = edge_preds.copy(), [], 0, 0
        answered_by_cloud = np.zeros(len(y), bool)  # a task's raw outputs: whichever model answered
        edge_busy = cloud_busy = 0.0
        for i in range(len(y)):
            t0 = i * interval
            edge_busy += t_edge
            if not hard[i]:
                e2e.append(t_edge)
                continue
            t_up = up.transfer(in_bytes, t0 + t_edge)
            t_down = down.transfer(out_bytes, t0 + t_edge + (t_up or 0) + t_cloud) if t_up is not None else None
            if t_up is None or t_down is None:
                fallbacks += 1  # the link is out: the edge's answer stands
                e2e.append(t_edge)
                continue
            offloaded += 1
            cloud_busy += t_cloud
            final[i] = cloud_preds[i]
            answered_by_cloud[i] = True
            e2e.append(t_edge + t_up + t_cloud + t_down)
        m = _base(ctx, run, final)
        if ctx.dense:
            m.scores = raw.merged(run.scores, cloud_scores, answered_by_cloud)
        n = len(y)
        m.metrics.update(
            {
                **_pct(e2e, "sim.latency"),
                "offload_ratio": offloaded / n,
                "hard_ratio": float(hard.mean()),
                "outage_fallbacks": fallbacks,
                "bytes.up": up.bytes_sent,
                "bytes.down": down.bytes_sent,
                **(
                    _alone(ctx, run.scores, cloud_scores, y)
                    if ctx.dense
                    else {
                        "accuracy_edge_only": float((edge_preds == y).mean()),
                        "accuracy_cloud_only": float((cloud_preds == y).mean()),
                    }
                ),
                "sim.edge_energy_j_per_inference": watts(topo.edge.max_w) * edge_busy / n,
                "sim.cloud_energy_j_per_inference": watts(topo.cloud.max_w) * cloud_busy / n,
                **_measured(latency, topo.edge, ctx),
                **_measured_move(ctx, xa[hard], "edge", "cloud"),
            }
        )
        m.info["joint"] = {"cloud_model": cloud_model, "rule": rule, "threshold": threshold}
        return m


def _cloud_outputs(ctx: ParadigmContext, run: HostRun, cloud_model: str) -> tuple[np.ndarray, Any]:
    """The cloud model's raw outputs on the same inputs (here, or on a worker offering the cloud role)."""
    cloud = ctx.other_model(cloud_model)
    try:
        check_fits(ctx.topology.cloud, cloud.facts.bytes, "cloud")
        x, _ = ctx.dataset.eval_subset(ctx.settings.eval_samples)
        cx = cloud.session.adapt(x)
        bs = ctx.settings.batch_size
        if not ctx.distributed:
            out = raw.concat(
                [finite(cloud.session.infer(cx[i : i + bs]), "the cloud model") for i in range(0, len(cx), bs)]
            )
        else:
            out = finite(
                ctx.backend.run("cloud", scores, ctx.runner, cloud.artifact, ctx.node, ctx.settings, cx, bs),
                "the cloud model",
            )
    finally:
        cloud.session.close()
    if ctx.dense and raw.shape(out) != raw.shape(run.scores):
        raise ArtifactError(
            f"joint_inference: the cloud model {cloud_model!r} outputs {raw.shape(out)} per input, the edge "
            f"model {raw.shape(run.scores)}: a {ctx.task} answer from either must decode alike"
        )
    return out, cloud.facts


def _confidence(ctx: ParadigmContext, run: HostRun) -> np.ndarray:
    """Per-input confidence the mining rule reads: the top class's probability, or the task's own (for
    detection, 1 - the share of doubtful boxes: Ianvs's box-level rule)."""
    if not ctx.dense:
        return run.confidence
    task = tasks.task_of(ctx.task)
    decoded = task.decode(run.scores, run.y, ctx.dataset, tasks.input_hw(run.xa))
    return np.asarray([task.confidence(p) for p in decoded], dtype=np.float64)


def _alone(ctx: ParadigmContext, edge: np.ndarray, cloud: np.ndarray, ids: np.ndarray) -> dict[str, Any]:
    """Each model's own headline on the same inputs (what collaboration is compared with)."""
    task = tasks.task_of(ctx.task)
    hw = tasks.input_hw(ctx.dataset.x_eval)
    out = {}
    for key, outputs in (("quality_edge_only", edge), ("quality_cloud_only", cloud)):
        out[key] = task.score(task.decode(outputs, ids, ctx.dataset, hw), ids, ctx.dataset).get(task.headline)
    return out


def _mining(ctx: ParadigmContext) -> tuple[str, Any]:
    """The hard-example mining stage (``rule:`` is its older name)."""
    params = dict(ctx.params)
    params.setdefault("hard_example_mining", params.get("rule", "confidence"))
    return stage("hard_example_mining", params, ctx.case.suite)
