"""Prompt sets for the generation task: procedural (``prompts``) or a JSONL file (``prompts_jsonl``).

x is (N, length) prompt ids (begin id first, 0-padded at the end), y the sample ids, and the answers
are ``Targets.texts``: the generation task judges exact match against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, prompts
from pytest_aibench.data.sources import _int_params
from pytest_aibench.data.targets import Targets


def _meta(x: np.ndarray, texts: list[str], answers: list[str], generator: str) -> dict[str, Any]:
    truth = Targets(size=(0, 0), texts=tuple(answers))
    return {
        "layout": "NT",
        "generator": generator,
        "num_classes": len(prompts.VOCAB),
        "targets": truth,
        "task": "generation",
        "prompt_tokens_max": int((x != prompts.PAD).sum(1).max()) if len(x) else 0,
    }


class PromptsSource:
    """Procedural prompts (:mod:`pytest_aibench.data.prompts`): ``params: {samples, kinds ("copy,reverse,add"),
    digits, context (0: the problem alone; N: exactly N ids of few-shot history and the problem), seed}``."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 200, "kinds": ",".join(prompts.KINDS), "digits": 2, "context": 0, "seed": 0})
        kinds = tuple(k.strip() for k in p["kinds"].split(",") if k.strip())
        try:
            x, texts, answers = prompts.generate(p["seed"], p["samples"], kinds, p["digits"], p["context"])
        except ValueError as exc:
            raise DatasetError(f"dataset {spec.name!r}: {exc}; see the README's prompts source") from None
        return x, np.arange(len(x), dtype=np.int64), _meta(x, texts, answers, "prompts") | p


class PromptsJsonlSource:
    """A JSONL file of ``{"prompt": "...", "answer": "..."}`` lines in the prompt language's characters;
    ``path`` required. Each bad line is one error naming the file, line and key."""

    needs_path = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        path = Path(str(spec.path))
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"dataset {spec.name!r}: cannot read {path}: {exc}") from None
        texts, answers = [], []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"dataset {spec.name!r}: {path}:{n}"
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{where}: not JSON ({exc}); one object per line") from None
            if not isinstance(rec, dict):
                raise DatasetError(f"{where}: expected an object with 'prompt' and 'answer', got {type(rec).__name__}")
            for key in ("prompt", "answer"):
                if not isinstance(rec.get(key), str):
                    raise DatasetError(
                        f"{where}: key {key!r} must be text, got {type(rec.get(key)).__name__}: a prompt set is "
                        'lines like {"prompt": "12+7=", "answer": "19"}'
                    )
            try:
                prompts.encode(rec["prompt"] + rec["answer"])
            except ValueError as exc:
                raise DatasetError(f"{where}: {exc} (digits, a-z, + = < > and space)") from None
            texts.append(rec["prompt"])
            answers.append(rec["answer"])
        if not texts:
            raise DatasetError(f"dataset {spec.name!r}: {path} holds no prompts")
        x = np.zeros((len(texts), max(len(t) for t in texts) + 1), dtype=np.int64)
        for i, t in enumerate(texts):
            ids = [prompts.BOS, *prompts.encode(t)]
            x[i, : len(ids)] = ids
        return x, np.arange(len(x), dtype=np.int64), _meta(x, texts, answers, "prompts_jsonl")
