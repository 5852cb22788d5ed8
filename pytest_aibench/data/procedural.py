"""Procedural labelled images: coloured shapes and textures, any count, any resolution (8-320: up to InceptionV3's 299).

The answer to "AI problem size is fixed": a suite picks how many images and how large. Each image is
a pure function of (seed, index): its scene (class, colours, position, size, period, noise) is drawn
from ``numpy.random.default_rng([seed, index])`` and rendered on a grid in [0, 1), so the same scene
comes out at every resolution, and the same (seed, index, resolution) is bit-identical everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CLASSES = ("disc", "square", "triangle", "ring", "cross", "h_stripes", "v_stripes", "checker", "diagonal", "dots")
MIN_SIZE, MAX_SIZE = 8, 320


def _scene(rng: np.random.Generator) -> dict[str, Any]:
    fg = rng.random(3)
    bg = rng.random(3)
    while np.abs(fg - bg).sum() < 0.9:  # keep the figure visible
        bg = rng.random(3)
    return {
        "fg": fg,
        "bg": bg,
        "cx": 0.3 + 0.4 * rng.random(),
        "cy": 0.3 + 0.4 * rng.random(),
        "r": 0.18 + 0.14 * rng.random(),
        "period": 0.12 + 0.1 * rng.random(),
        "phase": rng.random(),
        "noise": 0.04 + 0.06 * rng.random(),
        "angle": rng.random() * np.pi,
    }


def _mask(kind: str, s: dict[str, Any], u: np.ndarray, v: np.ndarray) -> np.ndarray:
    du, dv = u - s["cx"], v - s["cy"]
    r, p = s["r"], s["period"]
    inside = (np.abs(du) < r) & (np.abs(dv) < r)  # textures fill a square patch
    if kind == "disc":
        return du**2 + dv**2 < r**2
    if kind == "square":
        c, k = np.cos(s["angle"] / 2), np.sin(s["angle"] / 2)
        return (np.abs(c * du + k * dv) < r * 0.85) & (np.abs(-k * du + c * dv) < r * 0.85)
    if kind == "triangle":
        return (dv < r * 0.8) & (dv > -r) & (np.abs(du) < (dv + r) * 0.6)
    if kind == "ring":
        d = np.sqrt(du**2 + dv**2)
        return (d < r) & (d > r * 0.55)
    if kind == "cross":
        return ((np.abs(du) < r * 0.3) & (np.abs(dv) < r)) | ((np.abs(dv) < r * 0.3) & (np.abs(du) < r))
    if kind == "h_stripes":
        return inside & (((v / p + s["phase"]) % 1.0) < 0.5)
    if kind == "v_stripes":
        return inside & (((u / p + s["phase"]) % 1.0) < 0.5)
    if kind == "checker":
        return inside & ((np.floor(u / p + s["phase"]) + np.floor(v / p)) % 2 == 0)
    if kind == "diagonal":
        return inside & ((((u + v) / p + s["phase"]) % 1.0) < 0.5)
    if kind == "dots":
        fu, fv = (u / p + s["phase"]) % 1.0 - 0.5, (v / p) % 1.0 - 0.5
        return inside & (fu**2 + fv**2 < 0.09)
    raise ValueError(kind)


def render(seed: int, index: int, size: int, num_classes: int) -> tuple[np.ndarray, int]:
    """Image ``index`` of the dataset ``seed``: float32 (3, size, size) in [0, 1], and its label."""
    label = index % num_classes
    rng = np.random.default_rng([seed, index])
    s = _scene(rng)
    grid = (np.arange(size, dtype=np.float64) + 0.5) / size
    v, u = np.meshgrid(grid, grid, indexing="ij")
    mask = _mask(CLASSES[label], s, u, v)
    img = np.where(mask[None], s["fg"][:, None, None], s["bg"][:, None, None])
    # noise on a fixed 32x32 lattice, upsampled: the same scene at every resolution
    lattice = rng.random((3, 32, 32)) - 0.5
    idx = np.minimum((grid * 32).astype(int), 31)
    img = img + s["noise"] * lattice[:, idx][:, :, idx]
    return np.clip(img, 0.0, 1.0).astype(np.float32), label


def generate(seed: int, count: int, size: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be within {MIN_SIZE}..{MAX_SIZE}, got {size}")
    if not 2 <= num_classes <= len(CLASSES):
        raise ValueError(f"classes must be within 2..{len(CLASSES)}, got {num_classes}")
    x = np.empty((count, 3, size, size), np.float32)
    y = np.empty(count, np.int64)
    for i in range(count):
        x[i], y[i] = render(seed, i, size, num_classes)
    return x, y
