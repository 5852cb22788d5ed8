"""Cloud-edge collaborative LLM inference over the topology's simulated link (KubeEdge Ianvs's query
routing and speculative decoding), with the edge-only and cloud-only baselines.

Both decoders really run here (the item's model is the edge's; ``cloud_model`` names the suite's
cloud decoder): their compute times are measured on this host (the cloud's divided by
``cloud_speedup``), the link's are simulated from the topology's uplink (latency, bandwidth, jitter,
loss, outages; seeded, and every condition draws the same link noise). Queries arrive every
``interval_s`` simulated seconds. Privacy and cost: the tokens and bytes that leave the edge and the
share of queries that do. TTFT/TPOT here are end to end as the user at the edge sees them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_aibench.core.metric import column, declare
from pytest_aibench.data import prompts
from pytest_aibench.errors import ArtifactError
from pytest_aibench.gen import decoding
from pytest_aibench.gen.decoding import Generated
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import ParadigmContext
from pytest_aibench.paradigms.generate import GENERATION, answers_of, pct, run_queries
from pytest_aibench.paradigms.stages import stage

TOKEN_BYTES = 4  # a token id on the wire (int32)

COLLAB = GENERATION | declare(
    ("cloud.query_fraction", "share of queries that leave the edge (privacy)", None, "1"),
    ("cloud.tokens_sent", "tokens sent edge to cloud (prompts and drafts)", False),
    ("cloud.tokens_generated", "tokens the cloud model generated or verified", False),
    ("bytes.up", "bytes sent edge to cloud", False, "B"),
    ("bytes.down", "bytes sent cloud to edge", False, "B"),
    ("outage_fallbacks", "queries the edge answered because the link was out", None),
    ("quality_edge_only", "exact match of the edge model alone", True, "1"),
    ("quality_cloud_only", "exact match of the cloud model alone", True, "1"),
    ("spec.acceptance_rate", "drafted tokens the cloud accepted", True, "1"),
    ("spec.tokens_per_round", "tokens committed per draft-verify round trip", True),
    ("spec.speedup", "cloud-only end-to-end time / speculative end-to-end time, same queries and link", True),
    ("spec.identical_to_cloud", "share of answers identical to the cloud model's greedy output", True, "1"),
)
COLLAB |= column(COLLAB, {"cloud.query_fraction": ("to cloud", "{:.2f}"), "spec.acceptance_rate": ("accept", "{:.2f}")})


@dataclass
class Timeline:
    """One query as the user sees it: simulated seconds to the first token and to the last."""

    ttft_s: float
    total_s: float
    tokens: int


@dataclass(frozen=True)
class CollabParams:
    cloud_model: str | None = None  # the suite's cloud decoder (required)
    max_new_tokens: int = 8
    interval_s: float = 1.0  # simulated seconds between queries
    cloud_speedup: float = 1.0  # the cloud's compute is this host's measured time / cloud_speedup


@dataclass
class Sides:
    edge: decoding.Decoder
    cloud: decoding.Decoder | None
    params: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def of(ctx: ParadigmContext, cloud: bool = True) -> Sides:
        edge = decoding.decoder_of(ctx.session, ctx.case.id)
        if not cloud:
            return Sides(edge, None)
        name = ctx.param("cloud_model")
        if not name:
            raise ArtifactError(
                f"{ctx.case.paradigm} needs params.{ctx.case.paradigm}.cloud_model: the suite's cloud decoder"
            )
        other = ctx.other_model(str(name))
        return Sides(edge, decoding.decoder_of(other.session, f"{ctx.case.id}: cloud model {name!r}"))


def _streamed(down: Any, start: float, g: Generated, speed: float) -> tuple[float, float]:
    """Arrival times (from ``start``) of the first and last of ``g``'s tokens streamed down one by one."""
    marks = np.cumsum([g.ttft_ns, *g.step_ns]) / 1e9 / speed
    arrivals = [m + down.transfer_waiting(TOKEN_BYTES, start + m) for m in marks]
    return float(arrivals[0]), float(arrivals[-1])


def _measurement(
    ctx: ParadigmContext, y: np.ndarray, texts: list[str], lines: list[Timeline], wall: float
) -> Measurement:
    tokens = sum(t.tokens for t in lines)
    tpot = [(t.total_s - t.ttft_s) / (t.tokens - 1) for t in lines if t.tokens > 1]
    metrics = {
        **pct([t.ttft_s for t in lines], "ttft", 1e3),
        **pct(tpot, "tpot", 1e3),
        "tokens_per_s.stream": float(np.mean([t.tokens / t.total_s for t in lines if t.total_s > 0] or [0.0])),
        "tokens_per_s.total": tokens / sum(t.total_s for t in lines) if lines else 0.0,
        "gen.output_tokens": tokens / max(1, len(lines)),
    }
    return Measurement(
        predictions=np.asarray(y), labels=np.asarray(y), scores=texts, eval_wall_s=wall, eval_count=len(texts),
        seed=ctx.seed, metrics=metrics,
        info={"clock": "simulated end to end: host-measured compute + simulated link", "latency_samples_are": "none"},
    )  # fmt: skip


def _em(texts: list[str], answers: list[str]) -> float:
    return float(np.mean([t.strip() == a.strip() for t, a in zip(texts, answers, strict=True)])) if texts else 0.0


class LlmEdgeOnly:
    """The edge decoder answers everything; nothing leaves the edge."""

    name = "llm_edge_only"
    provides = COLLAB
    Params = CollabParams

    def run(self, ctx: ParadigmContext) -> Measurement:
        sides = Sides.of(ctx, cloud=False)
        x, y = ctx.dataset.eval_subset(ctx.settings.eval_samples)
        t0 = time.perf_counter()
        gens = run_queries(ctx, sides.edge, np.asarray(x), int(ctx.param("max_new_tokens")))
        lines = [Timeline(g.ttft_ns / 1e9, g.total_ns / 1e9, len(g.tokens)) for g in gens]
        m = _measurement(ctx, y, [g.text for g in gens], lines, time.perf_counter() - t0)
        m.metrics |= {"cloud.query_fraction": 0.0, "cloud.tokens_sent": 0, "bytes.up": 0, "bytes.down": 0}
        return m


class LlmCloudOnly:
    """Every prompt goes up; the item's decoder answers in the cloud, streaming tokens down."""

    name = "llm_cloud_only"
    provides = COLLAB

    @dataclass(frozen=True)
    class Params:
        max_new_tokens: int = 8
        interval_s: float = 1.0
        cloud_speedup: float = 1.0

    def run(self, ctx: ParadigmContext) -> Measurement:
        cloud = decoding.decoder_of(ctx.session, ctx.case.id)
        x, y = ctx.dataset.eval_subset(ctx.settings.eval_samples)
        t0 = time.perf_counter()
        gens = run_queries(ctx, cloud, np.asarray(x), int(ctx.param("max_new_tokens")))
        up, down = ctx.topology.channels(ctx.seed)
        speed, interval = float(ctx.param("cloud_speedup")), float(ctx.param("interval_s"))
        lines = []
        for i, g in enumerate(gens):
            start = i * interval
            t_up = up.transfer_waiting(g.prompt_tokens * TOKEN_BYTES, start)
            first, last = _streamed(down, start + t_up, g, speed)
            lines.append(Timeline(t_up + first, t_up + last, len(g.tokens)))
        m = _measurement(ctx, y, [g.text for g in gens], lines, time.perf_counter() - t0)
        m.metrics |= {
            "cloud.query_fraction": 1.0,
            "cloud.tokens_sent": sum(g.prompt_tokens for g in gens),
            "cloud.tokens_generated": sum(len(g.tokens) for g in gens),
            "bytes.up": up.bytes_sent,
            "bytes.down": down.bytes_sent,
        }
        return m


class LlmRouting:
    """The edge answers; the router sends a query to the cloud decoder instead (``router``: confidence,
    entropy, length, or a ``module:callable`` stage of ``(query, threshold) -> bool``). During an outage
    the edge's answer stands. ``sweep`` thresholds give the quality-vs-cost curve (recorded)."""

    name = "llm_routing"
    provides = COLLAB

    @dataclass(frozen=True)
    class Params(CollabParams):
        router: str = "confidence"
        threshold: float = 0.9
        sweep: tuple[float, ...] = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)

    def run(self, ctx: ParadigmContext) -> Measurement:
        sides = Sides.of(ctx)
        assert sides.cloud is not None
        x, y = ctx.dataset.eval_subset(ctx.settings.eval_samples)
        x, max_new = np.asarray(x), int(ctx.param("max_new_tokens"))
        name, route = stage("router", {"router": ctx.param("router")}, ctx.case.suite)
        t0 = time.perf_counter()
        edge, cloud = run_queries(ctx, sides.edge, x, max_new), run_queries(ctx, sides.cloud, x, max_new)
        queries = [_query(g, x[i]) for i, g in enumerate(edge)]
        threshold, speed = float(ctx.param("threshold")), float(ctx.param("cloud_speedup"))
        up, down = ctx.topology.channels(ctx.seed)
        texts, lines, sent, generated, fallbacks, routed = [], [], 0, 0, 0, 0
        for i, (e, c, q) in enumerate(zip(edge, cloud, queries, strict=True)):
            start = i * float(ctx.param("interval_s"))
            waited = e.total_ns / 1e9 if route.needs_edge_answer else 0.0
            wants_cloud = route(q, threshold)
            t_up = up.transfer(e.prompt_tokens * TOKEN_BYTES, start + waited) if wants_cloud else None
            if t_up is None:  # the edge answers (by the router's choice, or because the link is out)
                fallbacks += wants_cloud
                texts.append(e.text)
                lines.append(Timeline(e.ttft_ns / 1e9, e.total_ns / 1e9, len(e.tokens)))
                continue
            routed, sent, generated = routed + 1, sent + e.prompt_tokens, generated + len(c.tokens)
            first, last = _streamed(down, start + waited + t_up, c, speed)
            texts.append(c.text)
            lines.append(Timeline(waited + t_up + first, waited + t_up + last, len(c.tokens)))
        m = _measurement(ctx, y, texts, lines, time.perf_counter() - t0)
        answers = answers_of(ctx, np.asarray(y))
        m.metrics |= {
            "cloud.query_fraction": routed / max(1, len(texts)),
            "cloud.tokens_sent": sent,
            "cloud.tokens_generated": generated,
            "bytes.up": up.bytes_sent,
            "bytes.down": down.bytes_sent,
            "outage_fallbacks": fallbacks,
            "quality_edge_only": _em([g.text for g in edge], answers),
            "quality_cloud_only": _em([g.text for g in cloud], answers),
        }
        curve = [
            {"threshold": t, "exact_match": _em([c.text if route(q, t) else e.text for e, c, q in zip(edge, cloud, queries, strict=True)], answers),
             "cloud_fraction": float(np.mean([route(q, t) for q in queries]))}
            for t in (float(v) for v in ctx.param("sweep"))
        ]  # fmt: skip
        m.info["routing"] = {
            "router": name,
            "threshold": threshold,
            "curve": curve,
            "cloud_model": ctx.param("cloud_model"),
        }
        return m


def _query(g: Generated, row: np.ndarray) -> dict[str, Any]:
    """What a router reads of one query: the prompt, and the edge's answer with its confidence."""
    ids = decoding.prompt_ids(row)
    return {
        "prompt": prompts.decode(ids[1:]),
        "prompt_tokens": len(ids),
        "answer": g.text,
        "min_confidence": min(g.confidence),
        "mean_entropy": float(np.mean(g.entropy)),
    }
