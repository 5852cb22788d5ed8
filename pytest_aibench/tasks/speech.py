"""The speech tasks: keyword spotting (MLPerf Tiny's, top-1 over clips) and speech recognition with CTC
decoding, judged by word and character error rates from jiwer (the field's reference implementation).

Both take log-mel features: the audio front-end runs when the dataset is made, timed there, and its
cost per clip is reported apart (``speech.frontend_ms_per_clip``), as image decoding is. Recognition's
raw outputs are CTC logits (N, frames, symbols), blank first; greedy decoding collapses repeats and
drops blanks (outside the timed region)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.data import speech as speech_data
from pytest_aibench.tasks import labelled
from pytest_aibench.tasks.action import Action, top_k_metrics

if TYPE_CHECKING:
    import jiwer
    import torch
else:
    torch = lazy("torch")
    jiwer = lazy("jiwer")

ALPHABET = speech_data.ALPHABET  # CTC's symbols: the blank, then these
FRONTEND = declare(("speech.frontend_ms_per_clip", "the log-mel front-end per clip, on this host", False, "ms"))


def _frontend(dataset: Any) -> dict[str, Any]:
    ms = dataset.meta.get("frontend_ms_per_clip")
    return {} if ms is None else {"speech.frontend_ms_per_clip": float(ms)}


class KeywordSpotting(Action):
    name = "keyword_spotting"
    prefix, what = "kws", "clips"
    headline = "kws.top1"
    provides = top_k_metrics("kws", "clips", "kws top-1") | FRONTEND

    def score(self, predictions: list[np.ndarray], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        return super().score(predictions, ids, dataset) | _frontend(dataset)


def encode(text: str) -> list[int]:
    return [ALPHABET.index(c) + 1 for c in text.lower() if c in ALPHABET]


def greedy(logits: np.ndarray) -> str:
    """Best path: the most likely symbol per frame, repeats collapsed, blanks (0) dropped."""
    best = np.asarray(logits).argmax(-1)
    keep = np.concatenate([[True], best[1:] != best[:-1]]) & (best > 0)
    return " ".join("".join(ALPHABET[i - 1] for i in best[keep]).split())


class SpeechRecognition(labelled.TextPredictions):
    name = "speech_recognition"
    headline = "speech.wer"
    needs = "targets.texts"
    provides = (
        declare(
            (
                "speech.wer",
                "word error rate over every utterance (jiwer): substitutions, deletions, insertions",
                False,
                "1",
            ),
            ("speech.cer", "character error rate (jiwer)", False, "1"),
            ("speech.sentence_accuracy", "share of utterances transcribed exactly", True, "1"),
            ("speech.utterances", "utterances evaluated", None),
        )
        | FRONTEND
    )
    provides |= column(provides, {"speech.wer": ("WER", "{:.3f}", 1.0, 1), "speech.cer": ("CER", "{:.3f}")})

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        n = len(ALPHABET) + 1
        labelled.want(
            where, self.name, raw, 3, n, f"[N, frames, {n}] CTC logits (blank first)", "blank, then the alphabet"
        )

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[str]:
        return [greedy(r) for r in np.asarray(raw)]

    def score(self, predictions: list[str], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        if not len(ids):
            return {}
        texts = dataset.targets.need("texts", self.name, dataset.name)
        truth = [texts[int(i)] for i in ids]
        hyp = [p if p else "" for p in predictions]
        return {
            "speech.wer": float(jiwer.wer(truth, hyp)),
            "speech.cer": float(jiwer.cer(truth, hyp)),
            "speech.sentence_accuracy": float(np.mean([t == h for t, h in zip(truth, hyp, strict=True)])),
            "speech.utterances": len(truth),
        } | _frontend(dataset)

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        texts = [dataset.targets.texts[int(i)] for i in dataset.y_train]
        out = np.zeros((len(texts), max(len(t) for t in texts)), np.int64)  # 0-padded: blank never a target
        for row, t in zip(out, texts, strict=True):
            codes = encode(t)
            row[: len(codes)] = codes
        return out

    def loss(self, out: Any, target: Any) -> Any:
        logp = out.log_softmax(-1).transpose(0, 1)  # (frames, N, symbols)
        frames = torch.full((out.shape[0],), out.shape[1], dtype=torch.long)
        return torch.nn.functional.ctc_loss(logp, target, frames, (target > 0).sum(1), zero_infinity=True)
