"""Procedural ICU vital signs with labelled deterioration events (Edge AI Bench's patient monitoring).

Each sample is one patient window of ``steps`` readings (5-minute intervals) of five channels: heart
rate, SpO2, systolic blood pressure, respiratory rate and temperature, z-scored against fixed
population statistics. Label 1 means the patient deteriorates inside the window: from a random onset,
two to four channels drift (sepsis-like: HR and RR up, SpO2 and BP down, fever) at a random severity
and pace. Both classes carry the confounders a bedside monitor sees: transient agitation episodes
that recover, probe-off desaturation artefacts, measurement noise and dropped readings carried
forward. A pure function of (seed, index), like the shapes generator, so it is identical everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHANNELS = ("heart_rate", "spo2", "systolic_bp", "resp_rate", "temperature")
POP_MEAN = np.array([80.0, 96.0, 118.0, 17.0, 37.0])
POP_SCALE = np.array([15.0, 2.5, 18.0, 4.0, 0.6])
_BASE_SD = np.array([9.0, 1.0, 11.0, 2.0, 0.25])  # between patients
_AR_SD = np.array([2.5, 0.4, 3.5, 0.8, 0.06])  # within a patient, slow physiological variation
_NOISE_SD = np.array([2.0, 0.6, 4.0, 1.0, 0.08])  # measurement
_DETERIORATION = np.array([28.0, -6.0, -32.0, 9.0, 1.3])  # full-severity shift per channel
MIN_STEPS, MAX_STEPS = 16, 512


def patient(rng: np.random.Generator, steps: int) -> np.ndarray:
    """One patient's raw readings (steps, 5) before any event: a baseline, slow AR(1) wandering around it,
    maybe a transient agitation episode, and probe-off artefacts (the confounders every window carries)."""
    base = POP_MEAN + _BASE_SD * rng.standard_normal(5)
    drift = np.empty((steps, 5))
    state = _AR_SD * rng.standard_normal(5) * 2
    for t in range(steps):  # AR(1), phi 0.9: slow wandering around the patient's own baseline
        state = 0.9 * state + _AR_SD * rng.standard_normal(5)
        drift[t] = state
    x = base + drift
    t_axis = np.arange(steps)
    if rng.random() < 0.5:  # transient agitation or pain: HR and RR up for a while, then back
        start, length = rng.integers(0, steps - 4), rng.integers(3, 8)
        bump = np.exp(-0.5 * ((t_axis - start - length / 2) / (length / 2.5)) ** 2)
        x[:, 0] += rng.uniform(10, 25) * bump
        x[:, 3] += rng.uniform(2, 6) * bump
    for _ in range(rng.poisson(0.6)):  # probe-off desaturation artefacts of one or two readings
        t = int(rng.integers(0, steps - 1))
        x[t : t + rng.integers(1, 3), 1] -= rng.uniform(4, 12)
    return x


def deteriorate(rng: np.random.Generator, x: np.ndarray, onset: Any, pace: Any, scale: float = 1.0) -> None:
    """Sepsis-like drift of two to four channels from ``onset`` over ``pace`` readings, in place."""
    ramp = np.clip((np.arange(len(x)) - onset) / pace, 0.0, 1.0)
    affected = rng.permutation(5)[: rng.integers(2, 5)]
    severity = rng.uniform(0.6, 1.2) * scale
    for c in affected:
        x[:, c] += severity * _DETERIORATION[c] * ramp


def measured(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """What the monitor records: measurement noise, dropped readings carried forward, z-scored (float32)."""
    steps = len(x)
    x = x + _NOISE_SD * rng.standard_normal((steps, 5))
    dropped = rng.random(steps) < 0.03
    for t in (int(i) for i in np.flatnonzero(dropped)):  # a dropped reading repeats the last one, as monitors do
        if t > 0:
            x[t] = x[t - 1]
    return ((x - POP_MEAN) / POP_SCALE).astype(np.float32)


def render(seed: int, index: int, steps: int, positive_fraction: float) -> tuple[np.ndarray, int]:
    """Window ``index``: float32 (steps, 5) z-scores, and 1 if the patient deteriorates in it."""
    rng = np.random.default_rng([seed, index])
    label = int(rng.random() < positive_fraction)
    x = patient(rng, steps)
    if label:
        onset = rng.integers(int(steps * 0.3), steps - 8)
        pace = rng.integers(6, 18)
        deteriorate(rng, x, onset, pace)
    return measured(rng, x), label


def generate(seed: int, count: int, steps: int, positive_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be within {MIN_STEPS}..{MAX_STEPS}, got {steps}")
    if not 0.0 < positive_fraction < 1.0:
        raise ValueError(f"positive_fraction must be within (0, 1), got {positive_fraction}")
    x = np.empty((count, steps, 5), np.float32)
    y = np.empty(count, np.int64)
    for i in range(count):
        x[i], y[i] = render(seed, i, steps, positive_fraction)
    return x, y
