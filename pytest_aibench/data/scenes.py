"""Procedural street scenes for Edge AI Bench's driving and surveillance scenarios.

``signs``: eight traffic-sign-like classes (shape, colour and pictogram, left and right arrows
included, so mirroring changes the class) on cluttered backgrounds, under random scale, position,
rotation, lighting, colour cast, noise and partial occlusion.

``reid``: pedestrians for re-identification: an identity is a fixed set of attributes (upper and
lower clothing colours, build, hat, bag, hair); each view of it is seen by one of several cameras,
each with its own colour cast, brightness and background, and varies in pose, position, scale,
facing (mirrored, bag side included) and occlusion.

Both are pure functions of (seed, index) rendered on a grid in [0, 1), like the shapes generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SIGN_CLASSES = ("stop", "yield", "no_entry", "speed_limit", "warning", "turn_left", "turn_right", "priority")
MIN_SIZE, MAX_SIZE = 16, 224
_RED, _WHITE, _BLUE = np.array([0.8, 0.1, 0.1]), np.array([0.95, 0.95, 0.95]), np.array([0.1, 0.3, 0.8])
_YELLOW, _BLACK = np.array([0.95, 0.78, 0.1]), np.array([0.05, 0.05, 0.05])


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    g = (np.arange(size, dtype=np.float64) + 0.5) / size
    v, u = np.meshgrid(g, g, indexing="ij")
    return u, v


def _paint(img: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    img[:, mask] = colour[:, None]


def _clutter(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
    """A vertical gradient (sky to ground, or a wall) with a few random rectangles (buildings, foliage)."""
    top = rng.random(3) if base is None else np.clip(base + 0.15 * rng.standard_normal(3), 0, 1)
    bottom = rng.random(3) if base is None else np.clip(base * 0.6 + 0.1 * rng.standard_normal(3), 0, 1)
    img = top[:, None, None] * (1 - v) + bottom[:, None, None] * v
    for _ in range(rng.integers(1, 5)):
        x0, y0 = rng.random(2)
        w, h = 0.1 + 0.4 * rng.random(2)
        _paint(img, (u > x0) & (u < x0 + w) & (v > y0) & (v < y0 + h), rng.random(3) * 0.8 + 0.1)
    return img


def _finish(rng: np.random.Generator, img: np.ndarray, size: int, noise: float) -> np.ndarray:
    """Noise on a fixed 32x32 lattice (the same scene at every resolution), clipped to [0, 1]."""
    lattice = rng.standard_normal((3, 32, 32))
    idx = np.minimum(((np.arange(size) + 0.5) / size * 32).astype(int), 31)
    return np.clip(img + noise * lattice[:, idx][:, :, idx], 0.0, 1.0).astype(np.float32)


def _sign_masks(kind: str, a: np.ndarray, b: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mask, colour) layers of one sign in its own coordinates (a right, b down, radius 1)."""
    rho, aa, ab = np.sqrt(a**2 + b**2), np.abs(a), np.abs(b)
    if kind == "stop":
        octagon = (aa < 1) & (ab < 1) & (aa + ab < 1.414)
        return [(octagon, _RED), ((ab < 0.17) & (aa < 0.65), _WHITE)]
    if kind == "yield":
        return [
            ((b < 1) & (b > -0.75) & (aa < (1 - b) / 1.732), _RED),
            ((b < 0.55) & (b > -0.5) & (aa < (0.55 - b) / 1.732), _WHITE),
        ]
    if kind == "no_entry":
        return [(rho < 1, _RED), ((ab < 0.2) & (aa < 0.68), _WHITE)]
    if kind == "speed_limit":
        digit = lambda c: np.abs(np.sqrt(((a - c) / 0.7) ** 2 + (b / 1.2) ** 2) - 0.25) < 0.08  # noqa: E731
        return [(rho < 1, _RED), (rho < 0.76, _WHITE), (digit(-0.24) | digit(0.24), _BLACK)]
    if kind == "warning":
        return [
            ((b > -1) & (b < 0.75) & (aa < (b + 1) / 1.732), _RED),
            ((b > -0.5) & (b < 0.55) & (aa < (b + 0.5) / 1.732), _WHITE),
            (((aa < 0.06) & (b > -0.2) & (b < 0.28)) | (a**2 + (b - 0.42) ** 2 < 0.07**2), _BLACK),
        ]
    if kind in ("turn_left", "turn_right"):
        s = a if kind == "turn_right" else -a  # the arrow points towards +s
        arrow = ((ab < 0.13) & (s > -0.6) & (s < 0.25)) | ((s >= 0.1) & (s < 0.65) & (ab < (0.65 - s) * 1.2))
        return [(rho < 1, _BLUE), (arrow, _WHITE)]
    if kind == "priority":
        return [(aa + ab < 1, _WHITE), (aa + ab < 0.72, _YELLOW)]
    raise ValueError(kind)


def render_sign(seed: int, index: int, size: int, num_classes: int) -> tuple[np.ndarray, int]:
    """Image ``index`` of the signs dataset ``seed``: float32 (3, size, size) in [0, 1], and its label."""
    label = index % num_classes
    rng = np.random.default_rng([seed, index])
    u, v = _grid(size)
    img = _clutter(rng, u, v)
    cx, cy = 0.32 + 0.36 * rng.random(2)
    r = 0.22 + 0.16 * rng.random()
    angle = np.deg2rad(rng.uniform(-12, 12))
    squash = rng.uniform(0.8, 1.0)  # seen a little from the side
    du, dv = (u - cx) / r, (v - cy) / r
    a = (np.cos(angle) * du + np.sin(angle) * dv) / squash
    b = -np.sin(angle) * du + np.cos(angle) * dv
    for mask, colour in _sign_masks(SIGN_CLASSES[label], a, b):
        _paint(img, mask, np.clip(colour + 0.06 * rng.standard_normal(3), 0, 1))
    if rng.random() < 0.2:  # a branch or a post in front of the sign
        x0, y0 = cx + r * rng.uniform(-1, 0.6), cy + r * rng.uniform(-1, 0.6)
        w, h = r * rng.uniform(0.2, 0.5), r * rng.uniform(0.2, 0.5)
        _paint(img, (u > x0) & (u < x0 + w) & (v > y0) & (v < y0 + h), rng.random(3) * 0.6)
    light = rng.uniform(0.45, 1.15) * np.clip(1 + 0.12 * rng.standard_normal(3), 0.7, 1.3)
    return _finish(rng, img * light[:, None, None], size, rng.uniform(0.02, 0.08)), label


def _identity(seed: int, k: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 1_000_003, k])
    return {
        "upper": rng.random(3),
        "lower": rng.random(3) * 0.8,
        "hair": rng.random(3) * 0.35,
        "width": rng.uniform(0.8, 1.2),
        "height": rng.uniform(0.88, 1.08),
        "hat": rng.random(3) if rng.random() < 0.3 else None,
        "bag": (rng.random(3), rng.choice([-1, 1])) if rng.random() < 0.4 else None,
        "skin": np.array([0.85, 0.65, 0.5]) * rng.uniform(0.5, 1.1),
    }


def _camera(seed: int, c: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 2_000_003, c])
    return {
        "cast": np.clip(1 + 0.15 * rng.standard_normal(3), 0.75, 1.25),
        "light": rng.uniform(0.6, 1.1),
        "backdrop": rng.random(3),
    }


def render_person(seed: int, index: int, size: int, identities: int, cameras: int) -> tuple[np.ndarray, int]:
    """View ``index``: float32 (3, size, size) of identity ``index % identities`` seen by camera
    ``(index // identities) % cameras``, and the identity."""
    label = index % identities
    ident, cam = _identity(seed, label), _camera(seed, (index // identities) % cameras)
    rng = np.random.default_rng([seed, index])
    u, v = _grid(size)
    img = _clutter(rng, u, v, cam["backdrop"])
    scale = ident["height"] * rng.uniform(0.85, 1.05)
    cx, top = 0.5 + rng.uniform(-0.1, 0.1), 0.04 + rng.uniform(0, 0.06)
    facing = rng.choice([-1, 1])
    h, w = 0.9 * scale, 0.13 * ident["width"] * scale
    du, y = (u - cx) * facing, (v - top) / h  # y: 0 at the head's top, 1 at the feet
    stride = rng.uniform(0, 0.07)  # walking: legs apart
    legs = (
        (y > 0.52)
        & (y < 1.0)
        & (
            (np.abs(du - 0.055 - stride * (y - 0.52)) < 0.045 * scale)
            | (np.abs(du + 0.055 + stride * (y - 0.52)) < 0.045 * scale)
        )
    )
    _paint(img, legs, ident["lower"])
    _paint(img, (y > 0.18) & (y < 0.55) & (np.abs(du) < w), ident["upper"])
    _paint(img, (y > 0.2) & (y < 0.5) & (np.abs(du) > w) & (np.abs(du) < w + 0.04 * scale), ident["upper"] * 0.85)
    head = du**2 + ((y - 0.1) * h) ** 2 < (0.07 * scale) ** 2
    _paint(img, head, ident["skin"])
    _paint(img, head & (y < 0.07), ident["hair"])
    if ident["hat"] is not None:
        _paint(img, (y > -0.02) & (y < 0.05) & (np.abs(du) < 0.09 * scale), ident["hat"])
    if ident["bag"] is not None:
        colour, side = ident["bag"]
        _paint(img, (y > 0.3) & (y < 0.55) & (side * du > w) & (side * du < w + 0.09 * scale), colour)
    if rng.random() < 0.15:  # another passer-by or a bollard hides part of the legs
        x0 = cx + rng.uniform(-0.25, 0.1)
        _paint(img, (u > x0) & (u < x0 + rng.uniform(0.1, 0.2)) & (v > top + 0.7 * h), rng.random(3) * 0.7)
    img = img * (cam["cast"] * cam["light"] * rng.uniform(0.85, 1.15))[:, None, None]
    return _finish(rng, img, size, rng.uniform(0.02, 0.06)), label


def generate(kind: str, seed: int, count: int, size: int, **kw: int) -> tuple[np.ndarray, np.ndarray]:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be within {MIN_SIZE}..{MAX_SIZE}, got {size}")
    x = np.empty((count, 3, size, size), np.float32)
    y = np.empty(count, np.int64)
    for i in range(count):
        x[i], y[i] = render_sign(seed, i, size, **kw) if kind == "signs" else render_person(seed, i, size, **kw)
    return x, y
