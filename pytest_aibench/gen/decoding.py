"""The decoder protocol every runtime's session offers, and greedy generation with MLPerf's clock.

TTFT is from the prompt's arrival to the first output token (prefill plus the first pick); TPOT is each
later token's time (MLPerf's time per output token: (end - first token) / (tokens - 1) per query, whose
samples here are the individual steps). Prefill is also timed alone (prefill tokens/s)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pytest_aibench.data import prompts
from pytest_aibench.errors import ArtifactError


class Decoder(Protocol):
    """A decoder with a KV cache. ``state`` is the runtime's cache (opaque here); ``forward`` feeds
    ``ids`` (1-D) after it and returns their logits (len(ids), vocab) as float32 and the longer cache."""

    context: int  # positions the model has (prompt + answer must fit)
    vocab: int

    def start(self) -> Any: ...

    def forward(self, ids: np.ndarray, state: Any) -> tuple[np.ndarray, Any]: ...

    def length(self, state: Any) -> int: ...

    def keep(self, state: Any, length: int) -> Any:
        """The cache of the first ``length`` positions (speculative decoding's rollback)."""

    def kv_bytes(self, state: Any) -> int: ...


def make_ready(dec: Any, state: Any) -> None:
    """Before timing a step from a state that is not the latest one: a decoder whose cache lives inside
    its runtime, one sequence at a time (llama.cpp), restores it (``ready``); caches held in the state
    itself (torch, ONNX Runtime) need nothing."""
    ready = getattr(dec, "ready", None)
    if ready is not None:
        ready(state)


@runtime_checkable
class Decodes(Protocol):
    """A runner session that can drive its model token by token."""

    def decoder(self) -> Decoder: ...


def decoder_of(session: Any, where: str) -> Decoder:
    """The session's decoder, or one clear error: the model has no KV-cache interface."""
    if isinstance(session, Decodes):
        return session.decoder()
    raise ArtifactError(
        f"{where}: the model has no KV-cache interface, so it cannot be driven token by token: a generation item "
        "needs a zoo decoder (family gpt or llama), an ONNX decoder with past_key_values.N.key/value inputs and "
        "present.N.key/value outputs, or a GGUF file on llama_cpp"
    )


def prompt_ids(row: np.ndarray) -> np.ndarray:
    """A dataset row's prompt ids, without the end padding."""
    ids = np.asarray(row, dtype=np.int64)
    nz = np.flatnonzero(ids != prompts.PAD)
    return ids[: int(nz[-1]) + 1] if len(nz) else ids[:0]


def check_context(dec: Decoder, prompt_tokens: int, max_new: int, where: str) -> None:
    if prompt_tokens + max_new > dec.context:
        raise ArtifactError(
            f"{where}: a prompt of {prompt_tokens} tokens plus {max_new} new tokens is longer than the model's "
            f"context of {dec.context} positions; shorten the dataset's params.context or settings max_new_tokens"
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


@dataclass
class Generated:
    """One query's answer and clock."""

    tokens: list[int]
    prompt_tokens: int
    ttft_ns: int
    prefill_ns: int
    step_ns: list[int] = field(default_factory=list)  # every later token's time
    total_ns: int = 0
    kv_bytes: int = 0
    confidence: list[float] = field(default_factory=list)  # each picked token's probability
    entropy: list[float] = field(default_factory=list)  # each step's entropy (nats)

    @property
    def text(self) -> str:
        return prompts.decode(self.tokens)

    @property
    def tpot_ns(self) -> float | None:
        """MLPerf's per-query TPOT: (end - first token) / (tokens after the first)."""
        return (self.total_ns - self.ttft_ns) / len(self.step_ns) if self.step_ns else None


def greedy(
    dec: Decoder,
    prompt: np.ndarray,
    max_new: int,
    stop: int = prompts.EOS,
    clock: Callable[[], int] = time.perf_counter_ns,
    on_first: Callable[[int], None] | None = None,
) -> Generated:
    """Greedy decoding of ``prompt`` (1-D ids) until ``stop`` or ``max_new`` tokens, timed; ``on_first``
    hears the first token as soon as it is picked (LoadGen's FirstTokenComplete)."""
    t0 = clock()
    logits, state = dec.forward(prompt, dec.start())
    t_prefill = clock()
    probs = softmax(logits[-1])
    token = int(probs.argmax())
    if on_first is not None:
        on_first(token)
    t_first = clock()
    out = Generated([token], len(prompt), t_first - t0, t_prefill - t0)
    out.confidence.append(float(probs[token]))
    out.entropy.append(_entropy(probs))
    last = t_first
    while token != stop and len(out.tokens) < max_new:
        logits, state = dec.forward(np.array([token], dtype=np.int64), state)
        probs = softmax(logits[-1])
        token = int(probs.argmax())
        now = clock()
        out.step_ns.append(now - last)
        last = now
        out.tokens.append(token)
        out.confidence.append(float(probs[token]))
        out.entropy.append(_entropy(probs))
    out.total_ns = last - t0
    out.kv_bytes = dec.kv_bytes(state)
    return out


def _entropy(p: np.ndarray) -> float:
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def answer_nll(dec: Decoder, prompt: np.ndarray, answer: str) -> tuple[float, int]:
    """Summed negative log-likelihood of ``answer`` + end after ``prompt`` (teacher forcing, one forward),
    and the tokens counted: perplexity's parts."""
    target = [*prompts.encode(answer), prompts.EOS]
    ids = np.concatenate([prompt, np.asarray(target[:-1], dtype=np.int64)])
    logits, _ = dec.forward(ids, dec.start())
    picked = logits[len(prompt) - 1 :]
    z = picked.astype(np.float64)
    logz = np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1)
    nll = float(sum(logz[i] - z[i, t] for i, t in enumerate(target)))
    return nll, len(target)
