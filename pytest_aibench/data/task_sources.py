"""Dataset sources for the non-image tasks: ICU stays (mortality, decompensation, phenotyping), face
pairs (verification), user-item interactions (recommendation), clips (action recognition), keyword
clips and utterances (speech), sentence pairs (translation) and stories (question answering).

Each is procedural with exact truth, and names the task that truth is for; see each generator's
module for what it draws. Truth beyond a class id goes in ``Targets.labels``, indexed by sample id."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, clicks, clinical, clips, faces, interactions, language, speech
from pytest_aibench.data.sources import _int_params
from pytest_aibench.data.targets import Targets
from pytest_aibench.data.vitals import CHANNELS


def _generated(spec: DatasetSpec, make: Any, *args: Any) -> Any:
    try:
        return make(*args)
    except ValueError as exc:
        raise DatasetError(f"dataset {spec.name!r}: {exc}; see the README's task table") from None


class IcuSource:
    """MIMIC-III-style ICU benchmarks on procedural stays: ``params: {outcome: mortality | decompensation
    | phenotyping, samples, steps, positive_fraction (the phenotypes' prevalence), seed}``."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(
            spec, {"outcome": "mortality", "samples": 2000, "steps": 48, "positive_fraction": 0.3, "seed": 0}
        )
        x, y, labels = _generated(
            spec, clinical.generate, p["outcome"], p["seed"], p["samples"], p["steps"], p["positive_fraction"]
        )
        meta: dict[str, Any] = {"layout": "NTC", "generator": "icu", "channels": list(CHANNELS), **p}
        if labels is None:
            return x, y, meta | {"num_classes": 2, "classes": ["survives", p["outcome"]]}
        truth = Targets(size=(0, 0), categories=clinical.PHENOTYPES, labels=labels)
        return x, y, meta | {"num_classes": len(clinical.PHENOTYPES), "targets": truth, "task": "multilabel"}


class FacePairsSource:
    """Pairs of procedural face photos, half of one person (verification): ``params: {samples, size,
    identities, seed}``; x (N, 6, size, size), the two photos stacked on channels."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 2000, "size": 32, "identities": 400, "seed": 0})
        x, same = _generated(spec, faces.generate, p["seed"], p["samples"], p["size"], p["identities"])
        truth = Targets(size=(p["size"], p["size"]), categories=("different", "same"), labels=same)
        meta = {"layout": "NCHW", "generator": "face_pairs", "num_classes": 2, "targets": truth, "task": "verification"}
        return x, np.arange(len(x), dtype=np.int64), meta | p


class InteractionsSource:
    """User-item interactions with known preferences (recommendation): ``params: {samples, users, items,
    per_user, negatives, seed}``; x (N, 1 + negatives, 2) (user id, item id) candidate rows."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 3000, "users": 300, "items": 400, "per_user": 10, "negatives": 99, "seed": 0})
        x, pos = _generated(
            spec, interactions.generate, p["seed"], p["samples"], p["users"], p["items"], p["per_user"], p["negatives"]
        )
        truth = Targets(size=(0, 0), labels=pos)
        meta = {"layout": "NTC", "generator": "interactions", "num_classes": 1, "targets": truth}
        return x, np.arange(len(x), dtype=np.int64), meta | {"task": "recommendation"} | p


class ClicksSource:
    """Click logs in Criteo's shape (click-through, DLRM's task): ``params: {samples, rows (0: Criteo
    Kaggle's 26 cardinalities, else each capped at rows), ctr, seed}``; x (N, 39) log counts then ids."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 4000, "rows": 300, "ctr": 0.25, "seed": 0})  # rows: dlrm-clicks's tables
        x, y = _generated(spec, clicks.generate, p["seed"], p["samples"], p["rows"], p["ctr"])
        meta = {"layout": "NC", "generator": "clicks", "num_classes": 2, "classes": ["no click", "click"]}
        return x, y, meta | {"tables": list(clicks.tables(p["rows"]))} | p


class ClipsSource:
    """Clips of a moving shape, eight actions (action recognition): ``params: {samples, frames, size,
    seed}``; x (N, 3, frames, size, size)."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 2000, "frames": 8, "size": 32, "seed": 0})
        x, action = _generated(spec, clips.generate, p["seed"], p["samples"], p["frames"], p["size"])
        truth = Targets(size=(p["size"], p["size"]), categories=clips.ACTIONS, labels=action)
        meta = {"layout": "NCTHW", "generator": "clips", "num_classes": len(clips.ACTIONS), "targets": truth}
        return x, np.arange(len(x), dtype=np.int64), meta | {"task": "action"} | p


def _features(audio: np.ndarray, bands: int = 40) -> tuple[np.ndarray, float]:
    """The log-mel front-end over every clip, and its cost per clip in ms (reported apart, as preprocessing)."""
    t0 = time.perf_counter()
    feats = speech.log_mel(audio, bands)
    return feats, (time.perf_counter() - t0) * 1e3 / max(1, len(audio))


class KeywordsSource:
    """One-second clips of the ten Speech Commands keywords (keyword spotting): ``params: {samples,
    speakers, seed}``; x (N, 98, 40) log-mel frames."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 2000, "speakers": 60, "seed": 0})
        audio, label = _generated(spec, _keywords, p["seed"], p["samples"], p["speakers"])
        x, ms = _features(audio)
        truth = Targets(size=(0, 0), categories=speech.KEYWORDS, labels=label)
        meta = {"layout": "NTC", "generator": "keywords", "num_classes": len(speech.KEYWORDS), "targets": truth}
        return x, np.arange(len(x), dtype=np.int64), meta | {"task": "keyword_spotting", "frontend_ms_per_clip": ms} | p


class SpeechSource:
    """Utterances of two to four words with transcripts (speech recognition): ``params: {samples,
    speakers, seconds, bands, seed}``; x (N, frames, bands) log-mel (40 bands unless told)."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 2000, "speakers": 60, "seconds": 3.0, "bands": 40, "seed": 0})
        if not 8 <= p["bands"] <= 128:
            raise DatasetError(f"dataset {spec.name!r}: params.bands must be within 8..128 mel bands, got {p['bands']}")
        audio, texts = _generated(spec, _utterances, p["seed"], p["samples"], p["speakers"], p["seconds"])
        x, ms = _features(audio, p["bands"])
        truth = Targets(size=(0, 0), texts=tuple(texts))
        meta = {"layout": "NTC", "generator": "speech", "num_classes": len(speech.WORDS), "targets": truth}
        return (
            x,
            np.arange(len(x), dtype=np.int64),
            meta | {"task": "speech_recognition", "frontend_ms_per_clip": ms} | p,
        )


def _keywords(seed: int, count: int, speakers: int) -> tuple[np.ndarray, np.ndarray]:
    if speakers < 1:
        raise ValueError(f"speakers must be at least 1, got {speakers}")
    pairs = [speech.keyword(seed, i, speakers) for i in range(count)]
    return np.stack([a for a, _ in pairs]), np.array([k for _, k in pairs], np.int64)


def _utterances(seed: int, count: int, speakers: int, seconds: float) -> tuple[np.ndarray, list[str]]:
    if speakers < 1 or not 1.5 <= seconds <= 20:
        raise ValueError(f"speakers must be at least 1 and seconds within 1.5..20, got {speakers}, {seconds}")
    pairs = [speech.utterance(seed, i, speakers, seconds) for i in range(count)]
    return np.stack([a for a, _ in pairs]), [t for _, t in pairs]


class TranslationSource:
    """Sentence pairs of the procedural language (translation): ``params: {samples, seed}``; x (N, 10)
    source word ids, the reference translations in ``Targets.texts``."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 4000, "seed": 0})
        x, refs = language.translations(p["seed"], p["samples"])
        truth = Targets(size=(0, 0), texts=tuple(refs))
        meta = {"layout": "NT", "generator": "translation", "num_classes": len(language.VOCAB), "targets": truth}
        return x, np.arange(len(x), dtype=np.int64), meta | {"task": "translation"} | p


class ReviewsSource:
    """Sentences labelled negative, neutral or positive (text classification, SST's classes):
    ``params: {samples, seed}``; x (N, 10) word ids."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 4000, "seed": 0})
        x, y = language.reviews(p["seed"], p["samples"])
        meta = {"layout": "NT", "generator": "reviews", "num_classes": 3, "classes": list(language.SENTIMENTS)}
        return x, y, meta | p


class QaSource:
    """Stories and questions whose answer is a span of the story (extractive QA): ``params: {samples,
    length, seed}``; x (N, length) question, separator and context ids, padded with 0 past the story's
    48 (BERT's 384 for a published-size model); spans in ``labels``, answers in ``texts``."""

    needs_path = False

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"samples": 4000, "length": language.CONTEXT_LEN, "seed": 0})
        if not language.CONTEXT_LEN <= p["length"] <= 4096:
            raise DatasetError(
                f"dataset {spec.name!r}: params.length must be within {language.CONTEXT_LEN}..4096 "
                f"(a story and its question take {language.CONTEXT_LEN} ids), got {p['length']}"
            )
        x, spans, answers = language.qa(p["seed"], p["samples"])
        x = np.pad(x, ((0, 0), (0, p["length"] - x.shape[1])))
        truth = Targets(size=(0, 0), labels=spans, texts=tuple(answers))
        meta = {"layout": "NT", "generator": "qa", "num_classes": 2, "targets": truth}
        return x, np.arange(len(x), dtype=np.int64), meta | {"task": "question_answering"} | p
