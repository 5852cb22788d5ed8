"""``source: wavs``: your folder of WAV files with transcripts (LibriSpeech's layout: one ``ID TEXT``
line per utterance in a transcripts file), for speech recognition.

Files are read with the standard library's ``wave`` (16-bit PCM, mono or the channels averaged),
resampled to the front-end's 8 kHz by linear interpolation, cut or zero-padded to ``seconds`` and
turned into log-mel frames by the same front-end as the procedural ``speech`` source (its cost per
clip reported apart). Every problem is one error naming the file, the line and what was expected.
"""

from __future__ import annotations

import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, speech
from pytest_aibench.data.sources import _int_params
from pytest_aibench.data.targets import Targets


def read_wav(path: Path, rate: int = speech.RATE) -> np.ndarray:
    """Mono float32 in [-1, 1] at ``rate`` Hz."""
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, src_rate, n = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable WAV file ({exc}); expected 16-bit PCM") from None
    if width != 2:
        raise DatasetError(f"{path}: {8 * width}-bit samples; expected 16-bit PCM (convert with sox or ffmpeg)")
    x = np.frombuffer(raw, "<i2").astype(np.float32).reshape(-1, channels).mean(axis=1) / 32768.0
    if src_rate != rate and len(x) > 1:
        t = np.arange(int(len(x) * rate / src_rate)) * (src_rate / rate)
        x = np.interp(t, np.arange(len(x)), x).astype(np.float32)
    return x


def read_transcripts(path: Path) -> list[tuple[str, str]]:
    """(id, text) per line of ``path``; text lower-cased, checked against the recogniser's alphabet."""
    if not path.is_file():
        raise DatasetError(f"{path}: no transcripts file; expected one 'ID TEXT' line per WAV file (LibriSpeech's)")
    out = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, _, text = line.strip().partition(" ")
        text = " ".join(text.lower().split())
        bad = sorted({c for c in text if c not in speech.ALPHABET})
        if not text or bad:
            what = "no text" if not text else f"characters {''.join(bad)!r} outside a-z, space and apostrophe"
            raise DatasetError(f"{path}:{no}: {key!r} has {what}; write transcripts as LibriSpeech does (letters)")
        out.append((key, text))
    if not out:
        raise DatasetError(f"{path}: no transcripts; expected one 'ID TEXT' line per WAV file")
    return out


class WavsSource:
    """A folder of WAV files and their transcripts: ``path:``; ``params: {transcripts, seconds, samples,
    seed}`` (``samples``: a seeded sample of that many utterances)."""

    needs_path = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"transcripts": "transcripts.txt", "seconds": 3.0, "samples": 0, "seed": 0})
        root = Path(str(spec.path))
        lines = read_transcripts(root / p["transcripts"])
        if p["samples"] and p["samples"] < len(lines):
            keep = np.sort(np.random.default_rng(p["seed"]).choice(len(lines), p["samples"], replace=False))
            lines = [lines[i] for i in keep]
        n = int(p["seconds"] * speech.RATE)
        audio = np.zeros((len(lines), n), np.float32)
        for i, (key, _) in enumerate(lines):
            wav = root / f"{key}.wav"
            if not wav.is_file():
                raise DatasetError(f"{root / p['transcripts']}: {key!r} has no file {wav.name} in {root}")
            clip = read_wav(wav)[:n]
            audio[i, : len(clip)] = clip
        t0 = time.perf_counter()
        x = speech.log_mel(audio)
        ms = (time.perf_counter() - t0) * 1e3 / max(1, len(audio))
        truth = Targets(size=(0, 0), texts=tuple(t for _, t in lines))
        meta = {"layout": "NTC", "generator": "wavs", "num_classes": 1, "targets": truth, "frontend_ms_per_clip": ms}
        return x, np.arange(len(x), dtype=np.int64), meta | {"task": "speech_recognition"} | p
