"""A decoder's side of a paired comparison: each timed call is one output token (TPOT's sample), decoded
from a cache prefilled once per input prompt, so both sides time the same step at the same context
length; its predictions are the greedy answers the generation task judges."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pytest_aibench.gen import decoding


class DecoderSide:
    def __init__(self, session: Any, inputs: list[np.ndarray], max_new: int = 8):
        self.session, self.inputs, self.max_new = session, inputs, max_new
        self.environment: dict[str, Any] = {"where": "this process", "timed": "one decode step (TPOT)"}
        self.options = dict(getattr(session, "options", {}) or {})
        self.dec = decoding.decoder_of(session, "paired side")
        self.steps = []  # per input: the prompt's cache and the token that continues it
        for x in inputs:
            logits, state = self.dec.forward(decoding.prompt_ids(np.asarray(x)[0]), self.dec.start())
            self.steps.append((state, np.array([int(logits[-1].argmax())], dtype=np.int64)))

    def timed(self, i: int) -> int:
        state, token = self.steps[i]
        decoding.make_ready(self.dec, state)  # untimed: a runtime-held cache (llama.cpp) back on this prompt
        clock = time.perf_counter_ns
        t0 = clock()
        self.dec.forward(token, state)  # the cache is not changed in place: every call is the same step
        return clock() - t0

    def predictions(self, x: np.ndarray, batch: int, raw: bool = False) -> list[str]:
        """The greedy answers (what the generation task decodes), whatever ``raw`` asks."""
        return [decoding.greedy(self.dec, decoding.prompt_ids(r), self.max_new).text for r in np.asarray(x)]

    def close(self) -> None:
        self.session.close()


def side_for(plan: Any, session: Any, inputs: list[np.ndarray]) -> DecoderSide | None:
    """A DecoderSide where the plan's task is generation, else None (the caller's usual side)."""
    if getattr(plan, "task", None) != "generation":
        return None
    return DecoderSide(session, inputs, int(dict(getattr(plan, "params", {}) or {}).get("max_new_tokens", 8)))
