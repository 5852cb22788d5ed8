"""``speculative_decoding`` across the link: the edge decoder drafts ``draft_tokens`` greedily, the cloud
decoder verifies them in one forward and keeps the longest agreeing prefix plus its own next token, so
the answer is exactly the cloud model's greedy answer (tested) while the cloud runs fewer, wider steps.

Each round costs the edge's drafting, the drafts' trip up, the cloud's verification and the verdict's
trip down (outages are waited out: the answer must stay the cloud's). Both KV caches roll back to the
accepted prefix. The speed-up is against cloud-only on the same queries and the same link noise."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_aibench.data import prompts
from pytest_aibench.gen import decoding
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import ParadigmContext
from pytest_aibench.paradigms.generate import answers_of, run_queries
from pytest_aibench.paradigms.llm_collab import (
    COLLAB,
    TOKEN_BYTES,
    CollabParams,
    Sides,
    Timeline,
    _em,
    _measurement,
    _streamed,
)


@dataclass
class Spec:
    """One query's speculative run: its tokens, simulated timeline and counts."""

    tokens: list[int]
    line: Timeline
    drafted: int = 0
    accepted: int = 0
    rounds: int = 0
    sent: int = 0


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter_ns()
    out = fn(*args)
    return out, (time.perf_counter_ns() - t0) / 1e9


def speculate(sides: Sides, prompt: np.ndarray, k: int, max_new: int, link: Any, start: float, speed: float) -> Spec:
    """Greedy speculative decoding of ``prompt``; ``link`` is the (up, down) channel pair."""
    edge, cloud = sides.edge, sides.cloud
    assert cloud is not None
    up, down = link
    seq, new = [int(t) for t in prompt], list[int]()
    e_state, c_state, e_len, c_len = edge.start(), cloud.start(), 0, 0
    t = start + up.transfer_waiting(len(seq) * TOKEN_BYTES, start)  # the prompt goes up once
    out = Spec([], Timeline(0.0, 0.0, 0), sent=len(seq))
    while len(new) < max_new and (not new or new[-1] != prompts.EOS):
        draft, feed = [], np.asarray(seq[e_len:], dtype=np.int64)
        edge_s = 0.0
        for _ in range(min(k, max_new - len(new))):
            (logits, e_state), s = _timed(edge.forward, feed, e_state)
            edge_s += s
            draft.append(int(logits[-1].argmax()))
            if draft[-1] == prompts.EOS:
                break
            feed = np.asarray(draft[-1:], dtype=np.int64)
        e_len = edge.length(e_state)
        t += edge_s
        t += up.transfer_waiting(len(draft) * TOKEN_BYTES, t)
        verify = np.asarray(seq[c_len:] + draft, dtype=np.int64)
        (logits, c_state), cloud_s = _timed(cloud.forward, verify, c_state)
        t += cloud_s / speed
        picks = logits[len(seq) - c_len - 1 :].argmax(-1)  # the cloud's choice after each prefix
        j = 0
        while j < len(draft) and int(picks[j]) == draft[j]:
            j += 1
        ended = j == len(draft) and draft[-1] == prompts.EOS  # the cloud agreed the answer ends here
        commit = draft if ended else draft[:j] + [int(picks[j])]
        commit = commit[: max_new - len(new)]
        t += down.transfer_waiting(2 * TOKEN_BYTES, t)  # the accepted count and the cloud's token
        out.drafted, out.accepted, out.rounds = out.drafted + len(draft), out.accepted + j, out.rounds + 1
        out.sent += len(draft)
        if not new:
            out.line.ttft_s = t - start
        kept = len(seq) + j
        c_state, c_len = cloud.keep(c_state, kept), kept
        if e_len > kept:
            e_state, e_len = edge.keep(e_state, kept), kept
        seq += commit
        new += commit
        if prompts.EOS in commit:
            new = new[: new.index(prompts.EOS) + 1]
            break
    out.tokens, out.line.total_s, out.line.tokens = new, t - start, len(new)
    return out


class SpeculativeDecoding:
    name = "speculative_decoding"
    provides = COLLAB

    @dataclass(frozen=True)
    class Params(CollabParams):
        draft_tokens: int = 4  # k: tokens the edge drafts per round

    def run(self, ctx: ParadigmContext) -> Measurement:
        sides = Sides.of(ctx)
        assert sides.cloud is not None
        x, y = ctx.dataset.eval_subset(ctx.settings.eval_samples)
        x, max_new, k = np.asarray(x), int(ctx.param("max_new_tokens")), int(ctx.param("draft_tokens"))
        if k < 1:
            raise ValueError(f"params.speculative_decoding.draft_tokens must be >= 1, got {k}")
        speed, interval = float(ctx.param("cloud_speedup")), float(ctx.param("interval_s"))
        t0 = time.perf_counter()
        cloud_alone = run_queries(ctx, sides.cloud, x, max_new)  # the reference answers, and the baseline's clock
        link = ctx.topology.channels(ctx.seed)
        specs = []
        for i, row in enumerate(x):
            prompt = decoding.prompt_ids(row)
            decoding.check_context(sides.cloud, len(prompt), max_new + k, ctx.case.id)
            specs.append(speculate(sides, prompt, k, max_new, link, i * interval, speed))
        up, down = ctx.topology.channels(ctx.seed)  # cloud-only draws the same link noise
        baseline = 0.0
        for i, g in enumerate(cloud_alone):
            t_up = up.transfer_waiting(g.prompt_tokens * TOKEN_BYTES, i * interval)
            baseline += t_up + _streamed(down, i * interval + t_up, g, speed)[1]
        texts = [prompts.decode(s.tokens) for s in specs]
        m = _measurement(ctx, y, texts, [s.line for s in specs], time.perf_counter() - t0)
        drafted = sum(s.drafted for s in specs)
        m.metrics |= {
            "spec.acceptance_rate": sum(s.accepted for s in specs) / drafted if drafted else 0.0,
            "spec.tokens_per_round": sum(len(s.tokens) for s in specs) / max(1, sum(s.rounds for s in specs)),
            "spec.speedup": baseline / max(1e-12, sum(s.line.total_s for s in specs)),
            "spec.identical_to_cloud": float(np.mean([s.tokens == g.tokens for s, g in zip(specs, cloud_alone, strict=True)])),
            "cloud.query_fraction": 1.0,
            "cloud.tokens_sent": sum(s.sent for s in specs),
            "cloud.tokens_generated": sum(len(s.tokens) for s in specs),
            "bytes.up": link[0].bytes_sent,
            "bytes.down": link[1].bytes_sent,
            "quality_cloud_only": _em([g.text for g in cloud_alone], answers_of(ctx, np.asarray(y))),
        }  # fmt: skip
        m.info["speculative"] = {"draft_tokens": k, "cloud_model": ctx.param("cloud_model"), "cloud_speedup": speed}
        return m
