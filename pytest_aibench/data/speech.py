"""Procedural speech: a small language of words made of phones, spoken by varied speakers.

A phone is either voiced (a glottal pulse train at the speaker's pitch, shaped by two formant
resonances) or a fricative (noise through one band). A word is a fixed phone sequence, spelled in
letters, so recognisers learn spelling from sound as real ones do. A speaker has a pitch, a vocal
tract length (scaling every formant), a speaking rate and a loudness; each utterance adds room noise
and a random offset. Keyword clips hold one word in a one-second window (Speech Commands' task);
utterances hold two to four words (LibriSpeech's task in miniature), with their transcripts.
8 kHz mono, float32 in [-1, 1]; a pure function of (seed, index).

The front-end (:func:`log_mel`) is the field's usual 25 ms / 10 ms log-mel filterbank.
"""

from __future__ import annotations

import numpy as np

RATE = 8000
#: what transcripts are written with (CTC's symbols after its blank)
ALPHABET = " abcdefghijklmnopqrstuvwxyz'"
#: phone -> (kind, first formant or band centre Hz, second formant Hz)
PHONES = {
    "a": ("v", 750, 1200), "e": ("v", 500, 1900), "i": ("v", 300, 2300), "o": ("v", 500, 850),
    "u": ("v", 320, 800), "m": ("v", 250, 1000), "n": ("v", 250, 1600), "l": ("v", 350, 1300),
    "r": ("v", 420, 1350), "s": ("f", 3300, 0), "f": ("f", 2000, 0), "t": ("b", 2600, 0),
    "k": ("b", 1600, 0), "p": ("b", 800, 0), "g": ("b", 1300, 0), "d": ("b", 2200, 0),
}  # fmt: skip
#: the keywords (MLPerf Tiny's Speech Commands ten), spelled with the phones above
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
_SPOKEN = {
    "yes": "ies", "no": "no", "up": "up", "down": "daon", "left": "lef", "right": "rait", "on": "on",
    "off": "of", "stop": "stop", "go": "go", "red": "red", "blue": "lu", "green": "grin", "one": "uan",
    "two": "tu", "ten": "ten", "more": "mor", "less": "les",
}  # fmt: skip
WORDS = tuple(_SPOKEN)
_PHONE_OF = {"y": "i", "b": "p", "w": "u", "h": "f", "c": "k"}


def _phones(word: str) -> list[str]:
    return [_PHONE_OF.get(ch, ch) for ch in _SPOKEN[word] if _PHONE_OF.get(ch, ch) in PHONES]


def _speaker(seed: int, k: int) -> dict[str, float]:
    r = np.random.default_rng([seed, 4099, k])
    return {
        "f0": r.uniform(90, 240),
        "tract": r.uniform(0.85, 1.18),
        "rate": r.uniform(0.8, 1.25),
        "gain": r.uniform(0.4, 0.9),
    }


def _resonate(x: np.ndarray, hz: float, bandwidth: float = 120.0) -> np.ndarray:
    """A two-pole resonator at ``hz`` (a formant), normalised to unit peak gain."""
    r = np.exp(-np.pi * bandwidth / RATE)
    c = 2 * r * np.cos(2 * np.pi * hz / RATE)
    y = np.zeros(len(x) + 2)
    for n in range(len(x)):
        y[n + 2] = x[n] + c * y[n + 1] - r * r * y[n]
    return y[2:] * (1 - r)


def _phone(r: np.random.Generator, p: str, spk: dict[str, float], seconds: float) -> np.ndarray:
    kind, f1, f2 = PHONES[p]
    n = max(8, int(seconds * RATE))
    t = np.arange(n) / RATE
    if kind == "v":
        f0 = spk["f0"] * (1 + 0.05 * np.sin(2 * np.pi * r.uniform(2, 5) * t))
        pulses = (np.diff(np.floor(np.cumsum(f0) / RATE), prepend=0) > 0).astype(float)
        y = _resonate(pulses, f1 * spk["tract"]) + 0.6 * _resonate(pulses, f2 * spk["tract"])
    else:
        y = _resonate(r.standard_normal(n), f1 * spk["tract"], 600.0) * 0.5
        if kind == "b":  # a plosive: a short burst after a closure
            y *= np.exp(-t / 0.012)
    return y * np.hanning(n)


def speak(r: np.random.Generator, words: list[str], spk: dict[str, float]) -> np.ndarray:
    parts = []
    for w in words:
        for p in _phones(w):
            parts.append(_phone(r, p, spk, r.uniform(0.05, 0.09) / spk["rate"]))
        parts.append(np.zeros(int(r.uniform(0.03, 0.12) * RATE)))
    y = np.concatenate(parts)
    return y / max(1e-6, np.abs(y).max()) * spk["gain"]


def _place(r: np.random.Generator, voice: np.ndarray, seconds: float, noise: float) -> np.ndarray:
    n = int(seconds * RATE)
    out = noise * r.uniform(0.2, 1.0) * r.standard_normal(n)
    voice = voice[:n]
    start = int(r.integers(0, n - len(voice) + 1))
    out[start : start + len(voice)] += voice
    return np.clip(out, -1, 1).astype(np.float32)


def keyword(seed: int, index: int, speakers: int) -> tuple[np.ndarray, int]:
    """One second holding one of the ten keywords, and its index in :data:`KEYWORDS`."""
    r = np.random.default_rng([seed, index, 51])
    label = int(r.integers(len(KEYWORDS)))
    spk = _speaker(seed, int(r.integers(speakers)))
    return _place(r, speak(r, [KEYWORDS[label]], spk), 1.0, 0.03), label


def utterance(seed: int, index: int, speakers: int, seconds: float) -> tuple[np.ndarray, str]:
    """Two to four words in ``seconds`` of audio, and the transcript."""
    r = np.random.default_rng([seed, index, 52])
    words = [WORDS[int(i)] for i in r.integers(len(WORDS), size=int(r.integers(2, 5)))]
    spk = _speaker(seed, int(r.integers(speakers)))
    return _place(r, speak(r, words, spk), seconds, 0.02), " ".join(words)


def log_mel(audio: np.ndarray, bands: int = 40, win: int = 200, hop: int = 80) -> np.ndarray:
    """(N, samples) -> (N, frames, bands) log-mel energies (25 ms Hann windows every 10 ms at 8 kHz)."""
    frames = 1 + (audio.shape[1] - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(audio[:, idx] * np.hanning(win), n=256, axis=-1)) ** 2
    return np.log(spec @ _mel_bank(bands, 256).T + 1e-6).astype(np.float32)


def _mel_bank(bands: int, nfft: int) -> np.ndarray:
    mel = np.linspace(0, 2595 * np.log10(1 + (RATE / 2) / 700), bands + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    bins = np.floor((nfft + 1) * hz / RATE).astype(int)
    bank = np.zeros((bands, nfft // 2 + 1))
    for b in range(bands):
        lo, mid, hi = bins[b], max(bins[b + 1], bins[b] + 1), max(bins[b + 2], bins[b + 1] + 2)
        bank[b, lo:mid] = (np.arange(lo, mid) - lo) / (mid - lo)
        bank[b, mid:hi] = (hi - np.arange(mid, hi)) / (hi - mid)
    return bank
