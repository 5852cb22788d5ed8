"""Procedural ICU benchmark tasks after MIMIC-III's (Harutyunyan et al.): in-hospital mortality from the
first hours, decompensation (will the patient deteriorate within the next hours?) and phenotyping
(which of several conditions does the stay show: multi-label).

Built on :mod:`pytest_aibench.data.vitals`'s patients (baseline, slow wandering, agitation, artefacts,
noise, dropped readings), so every window carries the same confounders. Each task's signal is partial
by construction, as in the clinic: a dying patient may look stable in the first hours, a
decompensation may begin after the window ends (only its prodrome shows), phenotypes overlap. A pure
function of (seed, index).
"""

from __future__ import annotations

import numpy as np

from pytest_aibench.data import vitals

PHENOTYPES = ("sepsis", "shock", "respiratory_failure", "arrhythmia", "hypothermia", "hypertension")
#: each phenotype's shift per channel (HR, SpO2, systolic BP, RR, temperature) at full severity;
#: arrhythmia shows as beat-to-beat heart-rate variability instead
_SIGNATURES = np.array(
    [
        [18.0, -1.0, -10.0, 6.0, 1.2],
        [14.0, -1.0, -28.0, 3.0, 0.0],
        [10.0, -6.0, 0.0, 8.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [-8.0, 0.0, -6.0, -2.0, -1.6],
        [4.0, 0.0, 30.0, 0.0, 0.0],
    ]
)
OUTCOMES = ("mortality", "decompensation")
_ADMISSION = np.array([14.0, -2.0, -14.0, 4.0, 0.5])  # admission readings' shift at full sickness


def mortality(seed: int, index: int, steps: int, positive_fraction: float) -> tuple[np.ndarray, int]:
    """A stay's first ``steps`` readings and whether the patient dies in hospital. A hidden sickness
    drives both: the sicker deteriorate more often and harder, and die more often, but not always."""
    rng = np.random.default_rng([seed, index, 1])
    sickness = rng.beta(1.2, 2.5)
    # death: a logistic function of sickness, its offset set so that about positive_fraction die
    offset = np.quantile(np.random.default_rng(7).beta(1.2, 2.5, 4096), 1.0 - positive_fraction)
    label = int(rng.random() < 1.0 / (1.0 + np.exp(-20.0 * (sickness - offset))))
    x = vitals.patient(rng, steps) + sickness * _ADMISSION  # the sicker arrive with worse readings
    if rng.random() < 0.1 + 0.9 * sickness:
        vitals.deteriorate(rng, x, rng.integers(0, steps - 4), rng.integers(8, 30), scale=0.2 + 1.2 * sickness)
    return vitals.measured(rng, x), label


def decompensation(seed: int, index: int, steps: int, positive_fraction: float) -> tuple[np.ndarray, int]:
    """Whether deterioration begins within 12 readings (an hour) after the window ends. Positives show at
    most a prodrome (a slow, weak drift starting up to 12 readings before onset); negatives may have
    deteriorated earlier and recovered, or start deteriorating long after the horizon."""
    rng = np.random.default_rng([seed, index, 2])
    label = int(rng.random() < positive_fraction)
    x = vitals.patient(rng, steps)
    if label:
        onset = steps + rng.integers(0, 12)
        lead = rng.integers(8, 20)
        vitals.deteriorate(rng, x, onset - lead, lead + 24, scale=rng.uniform(0.6, 1.1))
    elif rng.random() < 0.3:  # an earlier episode that resolved: the drift and its recovery
        x2 = np.zeros_like(x)
        vitals.deteriorate(rng, x2, rng.integers(0, steps // 2), rng.integers(4, 10))
        fade = np.clip(1.0 - (np.arange(steps) - steps // 2) / 8.0, 0.0, 1.0)[:, None]
        x += x2 * fade
    return vitals.measured(rng, x), label


def phenotypes(seed: int, index: int, steps: int, prevalence: float) -> tuple[np.ndarray, np.ndarray]:
    """A stay's readings and its multi-hot phenotypes (each present with ``prevalence``, independently,
    at a random severity from a random onset)."""
    rng = np.random.default_rng([seed, index, 3])
    present = rng.random(len(PHENOTYPES)) < prevalence
    x = vitals.patient(rng, steps)
    t = np.arange(steps)
    for k in np.flatnonzero(present):
        severity = rng.uniform(0.35, 1.0)
        ramp = np.clip((t - rng.integers(0, steps // 2)) / rng.integers(4, 16), 0.0, 1.0)[:, None]
        if PHENOTYPES[k] == "arrhythmia":
            x[:, 0] += severity * 22.0 * rng.standard_normal(steps) * ramp[:, 0]
        else:
            x += severity * _SIGNATURES[k] * ramp
    return vitals.measured(rng, x), present.astype(np.float32)


def generate(
    outcome: str, seed: int, count: int, steps: int, fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``count`` windows: x (count, steps, 5), y (class labels, or sample ids for phenotyping) and the
    multi-hot phenotype labels (None for the binary outcomes)."""
    if not vitals.MIN_STEPS <= steps <= vitals.MAX_STEPS:
        raise ValueError(f"steps must be within {vitals.MIN_STEPS}..{vitals.MAX_STEPS}, got {steps}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the positive fraction (prevalence) must be within (0, 1), got {fraction}")
    x = np.empty((count, steps, 5), np.float32)
    if outcome == "phenotyping":
        labels = np.empty((count, len(PHENOTYPES)), np.float32)
        for i in range(count):
            x[i], labels[i] = phenotypes(seed, i, steps, fraction)
        return x, np.arange(count, dtype=np.int64), labels
    make = {"mortality": mortality, "decompensation": decompensation}.get(outcome)
    if make is None:
        raise ValueError(f"outcome must be one of {', '.join((*OUTCOMES, 'phenotyping'))}, got {outcome!r}")
    y = np.empty(count, np.int64)
    for i in range(count):
        x[i], y[i] = make(seed, i, steps, fraction)
    return x, y, None
