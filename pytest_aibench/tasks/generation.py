"""Text generation judged by exact match of the greedy answer (after stripping spaces), with perplexity of
the reference answer under teacher forcing (measured by the generation paradigms, which hold the model).

A generation paradigm hands back the decoded answers as ``Measurement.scores`` (a list of strings) and
the sample ids as ``labels``; the timing figures (TTFT, TPOT, tokens/s) are the paradigm's own."""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_aibench.core.metric import column, declare
from pytest_aibench.tasks import labelled, shape_error


class Generation(labelled.TextPredictions):
    name = "generation"
    headline = "generation.exact_match"
    needs = "targets.texts"
    provides = declare(
        ("generation.exact_match", "share of answers generated exactly (greedy decoding)", True, "1"),
        ("generation.perplexity", "exp of the mean negative log-likelihood of the reference answers", False),
        ("generation.answers", "prompts answered", None),
    )
    provides |= column(
        provides, {"generation.exact_match": ("EM", "{:.3f}", 1.0, 1), "generation.perplexity": ("ppl", "{:.2f}")}
    )

    def check(self, raw: Any, dataset: Any, where: str) -> None:
        if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
            raise shape_error(
                where, self.name, np.asarray(raw, dtype=object), "generated texts", "use a generation paradigm"
            )

    def decode(self, raw: Any, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[str]:
        return [str(r).strip() for r in raw]

    def score(self, predictions: list[str], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        if not len(ids):
            return {}
        texts = dataset.targets.need("texts", self.name, dataset.name)
        truth = [texts[int(i)].strip() for i in ids]
        return {
            "generation.exact_match": float(np.mean([p == t for p, t in zip(predictions, truth, strict=True)])),
            "generation.answers": len(truth),
        }
