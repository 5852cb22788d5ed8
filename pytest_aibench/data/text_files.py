"""``source: jsonl``: your text as JSON Lines, for translation, extractive QA or text classification.

One JSON object per line, with the keys its ``task`` reads:

- ``translation``: ``{"source": "...", "reference": "..."}`` (the reference is compared with sacreBLEU);
- ``question_answering``: ``{"question": "...", "context": "...", "answer": "..."}`` (SQuAD's fields, the
  answer a span of the context: its first occurrence is the truth);
- ``text_classification``: ``{"text": "...", "label": "..."}`` (classes: the labels, sorted).

Text is lower-cased and split into words and punctuation, then mapped to ids through a vocabulary: the
procedural language's (what the zoo's text models were trained on) or yours (``vocab:``, one token per
line, line n being id n; a ``[unk]`` or ``<unk>`` line takes unknown words, else an unknown word is an
error naming the line). Every problem is one error naming the file, the line and the key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, language
from pytest_aibench.data.sources import _int_params
from pytest_aibench.data.targets import Targets

#: task -> (the keys a line must have, the sequence length when ``length`` is 0)
TASKS: dict[str, tuple[tuple[str, ...], int]] = {
    "translation": (("source", "reference"), language.SENTENCE_LEN),
    "question_answering": (("question", "context", "answer"), language.CONTEXT_LEN),
    "text_classification": (("text", "label"), language.SENTENCE_LEN),
}
_WORDS = re.compile(r"\[sep\]|\w+|[^\w\s]")


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def read_vocab(path: Path | None) -> dict[str, int]:
    if path is None:
        return dict(language.INDEX)
    if not path.is_file():
        raise DatasetError(f"{path}: no vocabulary file; expected one token per line (line n is id n)")
    tokens = path.read_text(encoding="utf-8").splitlines()
    return {t.strip().lower(): i for i, t in reversed(list(enumerate(tokens))) if t.strip()}


def read_lines(path: Path, keys: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, object) per non-blank line, each checked to hold ``keys`` as non-empty strings."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; expected JSON Lines, one object per line")
    out = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{no}: not JSON ({exc.msg}); expected one object per line") from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{path}:{no}: a {type(obj).__name__}, expected an object with {', '.join(keys)}")
        for key in keys:
            if not isinstance(obj.get(key), str) or not obj[key].strip():
                raise DatasetError(
                    f"{path}:{no}: key {key!r} is {'missing' if key not in obj else repr(obj[key])}; "
                    f"expected non-empty text (each line needs {', '.join(keys)})"
                )
        out.append((no, obj))
    if len(out) < 2:
        raise DatasetError(f"{path}: {len(out)} lines of text; expected at least 2 JSON objects")
    return out


class JsonlSource:
    """``path:`` a JSON Lines file; ``params: {task, length (0: the task's default), vocab}``."""

    needs_path = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"task": "translation", "length": 0, "vocab": ""})
        if p["task"] not in TASKS:
            raise DatasetError(
                f"dataset {spec.name!r}: params.task {p['task']!r} is not one this source reads; "
                f"expected one of {', '.join(TASKS)}"
            )
        path = Path(str(spec.path))
        keys, default_len = TASKS[p["task"]]
        length = p["length"] or default_len
        vocab_path = (path.parent / p["vocab"]).resolve() if p["vocab"] else None
        if (
            vocab_path is not None
            and spec.confine is not None
            and not vocab_path.is_relative_to(spec.confine.resolve())
        ):
            raise DatasetError(
                f"dataset {spec.name!r}: params.vocab {p['vocab']!r} is outside the suite's folder "
                f"{spec.confine}; keep it beside the data (or run with allow_outside_paths)"
            )
        vocab = read_vocab(vocab_path)
        lines = read_lines(path, keys)
        encode = _Encoder(path, vocab, length)
        # the file's kind is recorded as ``text_task``: ``task`` in a source's meta names the task that judges it
        meta: dict[str, Any] = {"layout": "NT", "generator": "jsonl", "vocab_size": max(vocab.values()) + 1}
        meta |= {"text_task": p["task"], "length": length, "vocab": p["vocab"]}
        ids = np.arange(len(lines), dtype=np.int64)
        if p["task"] == "translation":
            x = np.stack([encode(no, "source", words(o["source"])) for no, o in lines])
            truth = Targets(size=(0, 0), texts=tuple(" ".join(words(o["reference"])) for _, o in lines))
            return x, ids, meta | {"num_classes": meta["vocab_size"], "targets": truth, "task": "translation"}
        if p["task"] == "question_answering":
            x, spans = encode.qa(lines)
            answers = tuple(" ".join(words(o["answer"])) for _, o in lines)
            truth = Targets(size=(0, 0), labels=spans, texts=answers)
            return x, ids, meta | {"num_classes": 2, "targets": truth, "task": "question_answering"}
        classes = sorted({o["label"].strip() for _, o in lines})
        x = np.stack([encode(no, "text", words(o["text"])) for no, o in lines])
        y = np.array([classes.index(o["label"].strip()) for _, o in lines], np.int64)
        return x, y, meta | {"num_classes": len(classes), "classes": classes}


class _Encoder:
    """Words to float32 ids of a fixed length, naming the line of a word the vocabulary lacks."""

    def __init__(self, path: Path, vocab: dict[str, int], length: int) -> None:
        self.path, self.vocab, self.length = path, vocab, length
        self.unk = vocab.get("[unk]", vocab.get("<unk>"))

    def __call__(self, no: int, key: str, ws: list[str]) -> np.ndarray:
        if len(ws) > self.length:
            raise DatasetError(
                f"{self.path}:{no}: key {key!r} has {len(ws)} words, past the sequence length {self.length}; "
                "raise params.length (the model must take that length)"
            )
        out = np.zeros(self.length, np.float32)
        for i, w in enumerate(ws):
            idx = self.vocab.get(w, self.unk)
            if idx is None:
                raise DatasetError(
                    f"{self.path}:{no}: key {key!r}: word {w!r} is not in the vocabulary ({len(self.vocab)} "
                    "tokens); give params.vocab, a file of one token per line, with [unk] for unknown words"
                )
            out[i] = idx
        return out

    def qa(self, lines: list[tuple[int, dict[str, str]]]) -> tuple[np.ndarray, np.ndarray]:
        """question + [sep] + context ids, and the answer's first span in the context (inclusive)."""
        x = np.zeros((len(lines), self.length), np.float32)
        spans = np.zeros((len(lines), 2), np.int64)
        for i, (no, o) in enumerate(lines):
            q, c, a = words(o["question"]), words(o["context"]), words(o["answer"])
            starts = [k for k in range(len(c) - len(a) + 1) if c[k : k + len(a)] == a]
            if not starts:
                raise DatasetError(
                    f"{self.path}:{no}: key 'answer' {o['answer']!r} is not a span of the context; "
                    "extractive QA needs the answer's words, in order, inside the context"
                )
            x[i] = self(no, "context", [*q, "[sep]", *c])
            spans[i] = (len(q) + 1 + starts[0], len(q) + len(a) + starts[0])
        return x, spans
