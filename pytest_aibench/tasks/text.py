"""The language tasks: translation judged by sacreBLEU (BLEU and chrF, the field's reference
implementation), and extractive question answering by SQuAD's own definitions of exact match and F1
(its evaluation script's normalisation: lower case, no punctuation, no articles, single spaces).

Translation's raw outputs are per-position word logits (N, length, vocabulary), padding id 0 (a
non-autoregressive decoder: the procedural language keeps a sentence's length). QA's are start and
end logits per token (N, length, 2); the answer is the best span of at most ``MAX_ANSWER`` tokens
after the question's separator."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.data import language
from pytest_aibench.tasks import labelled

if TYPE_CHECKING:
    import sacrebleu
    import torch
else:
    torch = lazy("torch")
    sacrebleu = lazy("sacrebleu")

MAX_ANSWER = 4


def _texts(task: Any, dataset: Any, ids: np.ndarray) -> list[str]:
    texts = dataset.targets.need("texts", task.name, dataset.name)
    return [texts[int(i)] for i in ids]


class Translation(labelled.TextPredictions):
    name = "translation"
    headline = "translation.bleu"
    needs = "targets.texts"
    provides = declare(
        ("translation.bleu", "corpus BLEU against the references (sacreBLEU, its default 13a tokenizer)", True),
        ("translation.chrf", "chrF (sacreBLEU)", True),
        ("translation.exact", "share of sentences translated exactly", True, "1"),
        ("translation.sentences", "sentences evaluated", None),
    )
    provides |= column(provides, {"translation.bleu": ("BLEU", "{:.2f}", 1.0, 1)})

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        v = len(language.VOCAB)
        labelled.want(where, self.name, raw, 3, v, f"[N, length, {v}] word logits", "one logit per vocabulary word")

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[str]:
        return [" ".join(language.words_of(row)) for row in np.asarray(raw).argmax(-1)]

    def score(self, predictions: list[str], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        if not len(ids):
            return {}
        refs = _texts(self, dataset, ids)
        return {
            "translation.bleu": float(sacrebleu.corpus_bleu(predictions, [refs]).score),
            "translation.chrf": float(sacrebleu.corpus_chrf(predictions, [refs]).score),
            "translation.exact": float(np.mean([p == r for p, r in zip(predictions, refs, strict=True)])),
            "translation.sentences": len(refs),
        }

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        length = int(np.shape(dataset.x_train)[1])
        refs = [dataset.targets.texts[int(i)] for i in dataset.y_train]
        return np.stack([language.encode(r.split(), length) for r in refs]).astype(np.int64)

    def loss(self, out: Any, target: Any) -> Any:
        return torch.nn.functional.cross_entropy(out.transpose(1, 2), target)


def normalize_answer(s: str) -> str:
    """SQuAD v1.1's normalisation: lower case, punctuation and articles removed, whitespace collapsed."""
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def f1(prediction: str, truth: str) -> float:
    """SQuAD's token F1 between normalised answers."""
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = sum((Counter(p) & Counter(t)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall)


class QuestionAnswering(labelled.TextPredictions):
    name = "question_answering"
    headline = "qa.f1"
    needs = "targets.texts"
    provides = declare(
        ("qa.f1", "mean token F1 of the answers (SQuAD's definition)", True, "1"),
        ("qa.exact_match", "share of answers equal after SQuAD's normalisation", True, "1"),
        ("qa.questions", "questions evaluated", None),
    )
    provides |= column(provides, {"qa.f1": ("F1", "{:.3f}", 1.0, 1), "qa.exact_match": ("EM", "{:.3f}")})

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        labelled.want(where, self.name, raw, 3, 2, "[N, length, 2] start and end logits", "two logits per token")

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[str]:
        rows = {int(i): k for k, i in enumerate(dataset.y_eval)}  # the span's words come from the input
        out = []
        for logits, i in zip(np.asarray(raw, dtype=np.float64), ids, strict=True):
            tokens = np.asarray(dataset.x_eval[rows[int(i)]])
            out.append(" ".join(language.words_of(tokens[slice(*best_span(logits, tokens))])))
        return out

    def score(self, predictions: list[str], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        if not len(ids):
            return {}
        truth = _texts(self, dataset, ids)
        pairs = list(zip(predictions, truth, strict=True))
        return {
            "qa.f1": float(np.mean([f1(p, t) for p, t in pairs])),
            "qa.exact_match": float(np.mean([normalize_answer(p) == normalize_answer(t) for p, t in pairs])),
            "qa.questions": len(pairs),
        }

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        return labelled.train_targets(dataset).astype(np.int64)

    def loss(self, out: Any, target: Any) -> Any:
        f = torch.nn.functional.cross_entropy
        return f(out[..., 0], target[:, 0]) + f(out[..., 1], target[:, 1])


def best_span(logits: np.ndarray, tokens: np.ndarray) -> tuple[int, int]:
    """(start, stop) of the best-scoring span after the separator, at most MAX_ANSWER tokens long."""
    sep = np.flatnonzero(tokens == language.INDEX["[sep]"])
    first = int(sep[0]) + 1 if len(sep) else 0
    valid = np.arange(len(logits)) >= first
    valid &= tokens > 0
    start, end = np.where(valid, logits[:, 0], -np.inf), np.where(valid, logits[:, 1], -np.inf)
    best, span = -np.inf, (first, first)
    for s in np.flatnonzero(valid):
        e = s + int(np.argmax(end[s : s + MAX_ANSWER]))
        if start[s] + end[e] > best:
            best, span = start[s] + end[e], (int(s), e + 1)
    return span
