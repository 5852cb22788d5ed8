"""Procedural faces for verification (LFW's protocol: is this pair one person?).

An identity is a fixed set of traits: head shape, skin tone, hair colour and line, eye spacing, size
and colour, brows, nose length and mouth width. Each photo of it varies in pose (yaw shifts the
features and narrows the far side, roll tilts the face), lighting (a directional gradient and
overall exposure), position, scale, background and sensor noise. A sample is a pair of photos stacked
on the channel axis (2 x 3 channels): half of the pairs show one identity, half two different ones,
so the truth is exact. A pure function of (seed, index), rendered on a grid in [0, 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_SIZE, MAX_SIZE = 16, 128


def _identity(seed: int, k: int) -> dict[str, Any]:
    r = np.random.default_rng([seed, 7919, k])
    return {
        "aspect": r.uniform(0.75, 1.0),
        "skin": np.clip(np.array([0.85, 0.65, 0.5]) * r.uniform(0.45, 1.1) + 0.05 * r.standard_normal(3), 0, 1),
        "hair": r.random(3) * 0.6,
        "hairline": r.uniform(-0.75, -0.35),
        "eye_gap": r.uniform(0.28, 0.48),
        "eye_r": r.uniform(0.07, 0.13),
        "iris": r.random(3) * 0.7,
        "brow": r.uniform(0.12, 0.25),
        "nose": r.uniform(0.15, 0.4),
        "mouth": r.uniform(0.2, 0.5),
        "mouth_y": r.uniform(0.4, 0.6),
    }


def render_face(seed: int, identity: int, view: int, size: int) -> np.ndarray:
    """Photo ``view`` of ``identity``: float32 (3, size, size) in [0, 1]."""
    f = _identity(seed, identity)
    r = np.random.default_rng([seed, identity, view])
    g = (np.arange(size) + 0.5) / size
    v, u = np.meshgrid(g, g, indexing="ij")
    cx, cy, scale = 0.5 + 0.06 * r.standard_normal(), 0.5 + 0.06 * r.standard_normal(), r.uniform(0.32, 0.42)
    roll, yaw = r.normal(0, 0.15), r.uniform(-0.35, 0.35)
    ca, sa = np.cos(roll), np.sin(roll)
    a = ((u - cx) * ca + (v - cy) * sa) / scale  # face coordinates: a right, b down, head radius 1
    b = (-(u - cx) * sa + (v - cy) * ca) / scale
    a = a - yaw * (1 - a**2).clip(0) * 0.5  # turning: the features slide, the far side narrows
    img = np.empty((3, size, size))
    back = r.random(3)
    img[:] = (back[:, None, None] * (1 - 0.4 * v) + 0.2 * r.random(3)[:, None, None] * u).clip(0, 1)
    head = (a / f["aspect"]) ** 2 + b**2 < 1
    img[:, head] = f["skin"][:, None]
    hair = head & (b < f["hairline"] + 0.1 * np.cos(3 * a))
    img[:, hair] = f["hair"][:, None]
    for side in (-1, 1):
        ex = side * f["eye_gap"]
        eye = (a - ex) ** 2 + (b + 0.1) ** 2 < f["eye_r"] ** 2
        img[:, eye] = f["iris"][:, None]
        brow = (np.abs(a - ex) < f["eye_r"] * 1.6) & (np.abs(b + 0.1 + f["brow"]) < 0.035)
        img[:, brow] = f["hair"][:, None] * 0.7
    nose = (np.abs(a) < 0.05) & (b > -0.05) & (b < -0.05 + f["nose"])
    img[:, nose] = f["skin"][:, None] * 0.7
    mouth = (np.abs(a) < f["mouth"] / 2) & (np.abs(b - f["mouth_y"]) < 0.04)
    img[:, mouth] = np.array([0.55, 0.15, 0.15])[:, None]
    light = r.uniform(0.55, 1.25) * (1 + r.uniform(-0.35, 0.35) * (u - 0.5) + r.uniform(-0.2, 0.2) * (v - 0.5))
    img = img * light + 0.04 * r.standard_normal((3, size, size))
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def render_pair(seed: int, index: int, size: int, identities: int) -> tuple[np.ndarray, int]:
    """Pair ``index``: float32 (6, size, size), two photos stacked; 1 if they show the same person."""
    r = np.random.default_rng([seed, index, 31])
    same = int(index % 2 == 0)  # exactly balanced, as LFW's pairs are
    first = int(r.integers(identities))
    second = first if same else int((first + r.integers(1, identities)) % identities)
    views = r.integers(0, 1 << 30, 2)
    return np.concatenate(
        [render_face(seed, first, int(views[0]), size), render_face(seed, second, int(views[1]), size)]
    ), same


def generate(seed: int, count: int, size: int, identities: int) -> tuple[np.ndarray, np.ndarray]:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be within {MIN_SIZE}..{MAX_SIZE}, got {size}")
    if identities < 2:
        raise ValueError(f"identities must be at least 2, got {identities}")
    x = np.empty((count, 6, size, size), np.float32)
    same = np.empty(count, np.int64)
    for i in range(count):
        x[i], same[i] = render_pair(seed, i, size, identities)
    return x, same
