"""Procedural video clips for action recognition (UCF101's task: which action does the clip show?).

An action is how a shape moves over the clip: sliding left, right, up or down, turning clockwise or
anticlockwise, growing or shrinking. Every clip has a moving actor and a static distractor on a
textured background, under random start, speed, colours, lighting and noise, so a single frame
cannot tell the action: only motion can (turning directions and growing/shrinking are mirror pairs).
x is (3, frames, size, size) in [0, 1]; a pure function of (seed, index).
"""

from __future__ import annotations

import numpy as np

from pytest_aibench.data.vision import _shape

ACTIONS = ("slide_left", "slide_right", "slide_up", "slide_down", "turn_cw", "turn_ccw", "grow", "shrink")
MIN_SIZE, MAX_SIZE = 16, 112


def render_clip(seed: int, index: int, frames: int, size: int) -> tuple[np.ndarray, int]:
    r = np.random.default_rng([seed, index, 41])
    action = int(r.integers(len(ACTIONS)))
    g = (np.arange(size) + 0.5) / size
    v, u = np.meshgrid(g, g, indexing="ij")
    back = r.random(3)[:, None, None] * (0.6 + 0.4 * np.sin(r.uniform(2, 9) * u + r.uniform(0, 6) * v))
    kind = str(r.choice(["square", "triangle"]))  # shapes whose turning shows
    colour, other = r.random(3), r.random(3)
    cx, cy, rad, angle = r.uniform(0.35, 0.65), r.uniform(0.35, 0.65), r.uniform(0.12, 0.2), r.uniform(0, 6.3)
    speed = r.uniform(0.5, 1.0)
    dx, dy, dr, da = 0.0, 0.0, 0.0, 0.0
    name = ACTIONS[action]
    if name.startswith("slide"):
        step = 0.3 * speed / frames
        dx, dy = {"slide_left": (-step, 0), "slide_right": (step, 0), "slide_up": (0, -step), "slide_down": (0, step)}[
            name
        ]
    elif name.startswith("turn"):
        da = (1.0 if name == "turn_cw" else -1.0) * 1.2 * speed / frames
    else:
        dr = (1.0 if name == "grow" else -1.0) * 0.08 * speed / frames
        rad += 0.04 if name == "shrink" else 0.0
    sx, sy = r.uniform(0.15, 0.85, 2)
    distractor = _shape("circle", u, v, sx, sy, r.uniform(0.06, 0.12), 0.0)
    clip = np.empty((3, frames, size, size), np.float32)
    for t in range(frames):
        img = back.copy()
        img[:, distractor] = other[:, None]
        mask = _shape(kind, u, v, cx + dx * t, cy + dy * t, max(0.04, rad + dr * t), angle + da * t)
        img[:, mask] = colour[:, None]
        img = img * r.uniform(0.9, 1.1) + 0.03 * r.standard_normal(img.shape)
        clip[:, t] = np.clip(img, 0.0, 1.0)
    return clip, action


def generate(seed: int, count: int, frames: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be within {MIN_SIZE}..{MAX_SIZE}, got {size}")
    if not 2 <= frames <= 64:
        raise ValueError(f"frames must be within 2..64, got {frames}")
    x = np.empty((count, 3, frames, size, size), np.float32)
    y = np.empty(count, np.int64)
    for i in range(count):
        x[i], y[i] = render_clip(seed, i, frames, size)
    return x, y
