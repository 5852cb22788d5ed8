"""``generate``: one node serves a decoder, one stream at a time, greedy, MLPerf's LLM figures.

Each prompt of the evaluation split is prefilled and decoded token by token with the runtime's KV
cache (:mod:`pytest_aibench.gen.decoding`); TTFT and TPOT percentiles are over queries (MLPerf's
per-query TPOT), ``latency_ns`` holds every decode step (so the ``latency`` group's percentiles and
the paired gate read the per-token time). Quality (exact match, perplexity of the reference answer)
comes from an untimed pass; seeded published-size weights decode a fixed ``max_new_tokens`` (their
end token means nothing) and report quality as not applicable."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_aibench.core.metric import column, declare
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.gen import decoding, loadgen_tokens
from pytest_aibench.gen.decoding import Generated
from pytest_aibench.measure import Measurement, loadgen
from pytest_aibench.measure.energy import EnergyMeter
from pytest_aibench.measure.memory import peak_rss_mb
from pytest_aibench.measure.stats import percentile
from pytest_aibench.paradigms import ParadigmContext

GENERATION = declare(
    *[(f"ttft.{q}_ms", f"time to first token (prefill + first pick), {w}", False, "ms") for q, w in (
        ("p50", "median"), ("p90", "90th percentile"), ("p99", "99th percentile"))],
    *[(f"tpot.{q}_ms", f"time per output token after the first (per query, MLPerf's TPOT), {w}", False, "ms")
      for q, w in (("p50", "median"), ("p90", "90th percentile"), ("p99", "99th percentile"))],
    ("tokens_per_s.stream", "output tokens per second of one stream (mean over queries)", True, "1/s"),
    ("tokens_per_s.total", "output tokens per second over the whole run", True, "1/s"),
    ("prefill.tokens_per_s", "prompt tokens prefilled per second", True, "1/s"),
    ("kv_cache.bytes", "KV-cache bytes at the end of the longest query", False, "B"),
    ("energy.j_per_token", "energy per output token (RAPL where readable, else the node's power model)", False, "J"),
    ("gen.prompt_tokens", "prompt tokens per query, mean", None),
    ("gen.output_tokens", "output tokens per query, mean", None),
)  # fmt: skip
GENERATION |= column(
    GENERATION,
    {
        "ttft.p50_ms": ("TTFT ms", "{:.2f}"),
        "tpot.p50_ms": ("TPOT ms", "{:.3f}"),
        "tokens_per_s.total": ("tok/s", "{:.1f}"),
    },
)


def pct(values: list[float], prefix: str, scale: float = 1e-6) -> dict[str, float]:
    """p50/p90/p99 of ``values`` (ns by default) in ms."""
    if not values:
        return {}
    s = sorted(v * scale for v in values)
    return {f"{prefix}.{q}_ms": percentile(s, float(q[1:])) for q in ("p50", "p90", "p99")}


def figures(gens: list[Generated], wall_s: float) -> dict[str, Any]:
    """MLPerf's LLM figures of a run of queries (each a :class:`Generated` on the same clock)."""
    out_tokens = sum(len(g.tokens) for g in gens)
    prefill_s = sum(g.prefill_ns for g in gens) / 1e9
    streams = [len(g.tokens) / (g.total_ns / 1e9) for g in gens if g.total_ns > 0]
    return {
        **pct([g.ttft_ns for g in gens], "ttft"),
        **pct([t for g in gens if (t := g.tpot_ns) is not None], "tpot"),
        "tokens_per_s.stream": float(np.mean(streams)) if streams else 0.0,
        "tokens_per_s.total": out_tokens / wall_s if wall_s > 0 else 0.0,
        "prefill.tokens_per_s": sum(g.prompt_tokens for g in gens) / prefill_s if prefill_s > 0 else 0.0,
        "kv_cache.bytes": max((g.kv_bytes for g in gens), default=0),
        "gen.prompt_tokens": float(np.mean([g.prompt_tokens for g in gens])) if gens else 0.0,
        "gen.output_tokens": out_tokens / len(gens) if gens else 0.0,
    }


def perplexity(dec: decoding.Decoder, x: np.ndarray, answers: list[str]) -> float:
    nll = count = 0.0
    for row, answer in zip(x, answers, strict=True):
        a, n = decoding.answer_nll(dec, decoding.prompt_ids(row), answer)
        nll, count = nll + a, count + n
    return float(np.exp(nll / count)) if count else float("nan")


def answers_of(ctx: ParadigmContext, ids: np.ndarray) -> list[str]:
    texts = ctx.dataset.targets.need("texts", "generation", ctx.dataset.name)
    return [texts[int(i)] for i in ids]


def run_queries(ctx: ParadigmContext, dec: decoding.Decoder, x: np.ndarray, max_new: int) -> list[Generated]:
    """Warm-up (untimed), then every prompt generated once, timed."""
    stop = -1 if ctx.untrained else decoding.prompts.EOS  # seeded weights: a fixed output length
    rows = [decoding.prompt_ids(r) for r in x]
    for r in rows:
        decoding.check_context(dec, len(r), max_new, f"{ctx.case.id}: dataset {ctx.dataset.name!r}")
    warm = ctx.settings.warmup if isinstance(ctx.settings.warmup, int) else 1  # "stable": one query is enough
    for i in range(max(0, warm)):
        decoding.greedy(dec, rows[i % len(rows)], max_new, stop)
    return [decoding.greedy(dec, r, max_new, stop) for r in rows]


class Generate:
    name = "generate"
    pairs = True  # one decode step is a call: --aibench-against pairs TPOT (pytest_aibench.gen.paired_side)
    provides = GENERATION

    @dataclass(frozen=True)
    class Params:
        max_new_tokens: int = 8  # the answer's budget (generation stops earlier at the end token)
        perplexity: bool = True  # score the reference answers' perplexity (an untimed teacher-forced pass)
        ttft_ms: float = 2000.0  # LoadGen's ttft_latency constraint (token-latency scenarios)
        tpot_ms: float = 200.0  # LoadGen's tpot_latency constraint
        target_qps: float = 0.0  # Server's target; 0: half of what one stream sustains

    def run(self, ctx: ParadigmContext) -> Measurement:
        dec = decoding.decoder_of(ctx.session, ctx.case.id)
        x, y = ctx.dataset.eval_subset(ctx.settings.eval_samples)
        max_new = int(ctx.param("max_new_tokens"))
        if ctx.case.scenario:
            return self._loadgen(ctx, dec, np.asarray(x), np.asarray(y), max_new)
        with EnergyMeter(ctx.node.idle_w, ctx.node.max_w, ctx.node.threads) as meter:
            t0 = time.perf_counter()
            gens = run_queries(ctx, dec, np.asarray(x), max_new)
            wall = time.perf_counter() - t0
        tokens = sum(len(g.tokens) for g in gens)
        energy = meter.result(len(gens))  # per query; per token below
        m = Measurement(
            predictions=np.asarray(y),
            labels=np.asarray(y),
            scores=[g.text for g in gens],
            latency_ns=[s for g in gens for s in g.step_ns],
            latency_measure="token",
            eval_wall_s=wall,
            eval_count=len(gens),
            peak_rss_mb=peak_rss_mb(),
            energy=energy,
            seed=ctx.seed,
            metrics=figures(gens, wall),
            info={"latency_samples_are": "decode steps (one output token each)", "max_new_tokens": max_new},
        )
        if tokens and energy.get("energy.joules"):
            m.metrics["energy.j_per_token"] = energy["energy.joules"] / tokens
        if not ctx.untrained and bool(ctx.param("perplexity")):
            m.metrics["generation.perplexity"] = perplexity(dec, np.asarray(x), answers_of(ctx, np.asarray(y)))
        return m

    def _loadgen(
        self, ctx: ParadigmContext, dec: decoding.Decoder, x: np.ndarray, y: np.ndarray, max_new: int
    ) -> Measurement:
        """LoadGen's Server or Offline in token-latency mode: its own TTFT/TPOT and VALID verdict."""
        if not loadgen.available():
            raise NotAvailable(f"MLPerf LoadGen is not installed: {loadgen.INSTALL_HINT}")
        scenario = {"server": "Server", "offline": "Offline"}.get(str(ctx.case.scenario))
        if scenario is None:
            raise ArtifactError(
                f"{ctx.case.id}: generation runs LoadGen's server and offline scenarios in token-latency mode, "
                f"not {ctx.case.scenario}"
            )
        rows = [decoding.prompt_ids(r) for r in x]
        for r in rows:
            decoding.check_context(dec, len(r), max_new, f"{ctx.case.id}: dataset {ctx.dataset.name!r}")
        stop = -1 if ctx.untrained else decoding.prompts.EOS
        limits = {k: float(ctx.param(k)) for k in ("ttft_ms", "tpot_ms", "target_qps")}
        got = loadgen_tokens.run(ctx, dec, rows, scenario, ctx.item_dir / "loadgen", max_new, stop, limits)
        lgm = got["loadgen"]
        return Measurement(
            predictions=y, labels=y, scores=got["texts"], latency_measure="none", eval_count=len(rows),
            peak_rss_mb=peak_rss_mb(), loadgen=lgm, seed=ctx.seed,
            metrics={name: lgm[k] for k, name in loadgen_tokens.AS_ITEM.items() if k in lgm},
            info={"loadgen": {"settings": got["settings"], "logs": got["logs"], "mode": "token latencies"}},
        )  # fmt: skip
