"""Procedural scenes for the vision tasks, each with exact ground truth (the renderer knows what it drew).

- ``objects``: circles, squares and triangles on textured backdrops: boxes, class masks and areas
  (detection and segmentation); the same scenes, downsampled, are the super-resolution pairs;
- ``figures``: one stick figure per image with five keypoints (pose);
- ``roads``: a road towards a vanishing point with up to four lane markings, solid or dashed,
  straight or curved, in TuSimple's form (a lane's x at fixed rows);
- ``pcb``: boards with components and solder joints, some defective (Ianvs's PCB-AoI task:
  missing solder, solder bridges, excess solder), boxed;
- ``street``: traffic signs (the eight sign classes of :mod:`pytest_aibench.data.scenes`) in street
  clutter, boxed (traffic-sign detection).

Every image is a pure function of (seed, index) rendered on a grid in [0, 1), so any size shows the
same scene; the truth is measured on the rendered pixels (boxes are the visible extent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pytest_aibench.data.scenes import SIGN_CLASSES, _clutter, _finish, _grid, _paint, _sign_masks
from pytest_aibench.data.targets import Targets

OBJECTS = ("circle", "square", "triangle")
DEFECTS = ("missing_solder", "solder_bridge", "excess_solder")
KEYPOINTS = ("head", "left_hand", "right_hand", "left_foot", "right_foot")
LANE_SLOTS = 4
MIN_SIZE, MAX_SIZE = 32, 1024


def _backdrop(rng: np.random.Generator, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A two-colour gradient with a soft wave texture: no edges that look like objects."""
    a, b = rng.random(3) * 0.7 + 0.15, rng.random(3) * 0.7 + 0.15
    t = np.clip(u * rng.uniform(-1, 1) + v * rng.uniform(-1, 1) + 0.5, 0, 1)
    fx, fy, ph = rng.uniform(2, 8), rng.uniform(2, 8), rng.uniform(0, 6.3)
    wave = 0.06 * np.sin(2 * np.pi * (fx * u + fy * v) + ph)
    return a[:, None, None] * (1 - t) + b[:, None, None] * t + wave


def _shape(kind: str, u: np.ndarray, v: np.ndarray, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    du, dv = u - cx, v - cy
    a = np.cos(angle) * du + np.sin(angle) * dv
    b = -np.sin(angle) * du + np.cos(angle) * dv
    if kind == "circle":
        return du**2 + dv**2 < r**2
    if kind == "square":
        return (np.abs(a) < 0.8 * r) & (np.abs(b) < 0.8 * r)
    return (b < 0.5 * r) & (b > -r) & (np.abs(a) < (b + r) / 1.732)  # triangle, apex up


def _boxes_of(instances: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k, 4) xywh boxes of each instance's visible pixels, their areas, and which are visible."""
    boxes, areas, keep = np.zeros((count, 4), np.float32), np.zeros(count, np.float64), np.zeros(count, bool)
    for k in range(count):
        ys, xs = np.nonzero(instances == k + 1)
        if len(xs) == 0:
            continue
        boxes[k] = (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min())
        areas[k], keep[k] = len(xs), True
    return boxes, areas, keep


def _place(
    rng: np.random.Generator, placed: list[tuple[float, float, float]], lo: float, hi: float
) -> tuple[float, float, float] | None:
    """A centre and radius that overlaps no earlier object by much (every object stays mostly visible)."""
    for _ in range(20):
        r = rng.uniform(lo, hi)
        cx, cy = rng.uniform(r * 0.6, 1 - r * 0.6, 2)
        if all((cx - x) ** 2 + (cy - y) ** 2 > (0.85 * (r + q)) ** 2 for x, y, q in placed):
            return float(cx), float(cy), float(r)
    return None


def render_objects(seed: int, index: int, size: int) -> tuple[np.ndarray, dict[str, Any]]:
    rng = np.random.default_rng([seed, index])
    u, v = _grid(size)
    img = _backdrop(rng, u, v)
    seg = np.zeros((size, size), np.uint8)
    inst = np.zeros((size, size), np.int32)
    placed: list[tuple[float, float, float]] = []
    cls: list[int] = []
    for _ in range(int(rng.integers(1, 5))):
        spot = _place(rng, placed, 0.09, 0.22)
        if spot is None:
            continue
        c = int(rng.integers(len(OBJECTS)))
        cx, cy, r = spot
        mask = _shape(OBJECTS[c], u, v, cx, cy, r, rng.uniform(0, np.pi / 2))
        _paint(img, mask, rng.random(3) * 0.9 + 0.05)
        seg[mask], inst[mask] = c + 1, len(placed) + 1
        placed.append(spot)
        cls.append(c)
    boxes, areas, keep = _boxes_of(inst, len(cls))
    img = _finish(rng, img * rng.uniform(0.7, 1.1), size, rng.uniform(0.01, 0.04))
    return img, {"boxes": boxes[keep], "classes": np.asarray(cls, np.int64)[keep], "areas": areas[keep], "mask": seg}


def _segment(u: np.ndarray, v: np.ndarray, p: np.ndarray, q: np.ndarray, width: float) -> np.ndarray:
    d = q - p
    t = np.clip(((u - p[0]) * d[0] + (v - p[1]) * d[1]) / max(float(d @ d), 1e-12), 0, 1)
    return (u - p[0] - t * d[0]) ** 2 + (v - p[1] - t * d[1]) ** 2 < width**2


def render_figure(seed: int, index: int, size: int) -> tuple[np.ndarray, dict[str, Any]]:
    """One stick figure: left limbs warm, right limbs cool (so left and right can be told apart)."""
    rng = np.random.default_rng([seed, index])
    u, v = _grid(size)
    img = _backdrop(rng, u, v)
    for _ in range(20):
        h = rng.uniform(0.45, 0.8)
        neck = np.array([rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.5)])
        pelvis = neck + np.array([rng.uniform(-0.05, 0.05), 0.35 * h])
        head = neck - np.array([0, 0.12 * h])
        arms = [neck + 0.3 * h * np.array([np.sin(a), np.cos(a)]) for a in rng.uniform(-2.8, 2.8, 2)]
        legs = [pelvis + 0.38 * h * np.array([np.sin(a), np.cos(a)]) for a in rng.uniform(-0.7, 0.7, 2)]
        if arms[0][0] < arms[1][0]:  # the figure faces the viewer: its left hand is on the image's right
            arms.reverse()
        if legs[0][0] < legs[1][0]:
            legs.reverse()
        points = np.array([head, *arms, *legs])
        if (points > 0.04).all() and (points < 0.96).all() and head[1] - 0.07 * h > 0.02:
            break
    width = 0.04 * h
    torso = rng.random(3) * 0.6 + 0.2
    _paint(img, _segment(u, v, neck, pelvis, 1.6 * width), torso)
    warm, cool = np.array([0.9, 0.25, 0.1]), np.array([0.1, 0.35, 0.9])
    for end, base, colour in (
        (arms[0], neck, warm),
        (arms[1], neck, cool),
        (legs[0], pelvis, warm),
        (legs[1], pelvis, cool),
    ):
        tone = np.clip(colour * rng.uniform(0.7, 1.1), 0, 1)
        _paint(img, _segment(u, v, base, end, width), tone)
        _paint(img, (u - end[0]) ** 2 + (v - end[1]) ** 2 < (0.06 * h) ** 2, tone * 0.8)  # a hand or a foot
    _paint(
        img,
        (u - head[0]) ** 2 + (v - head[1]) ** 2 < (0.07 * h) ** 2,
        np.array([0.9, 0.7, 0.55]) * rng.uniform(0.6, 1.1),
    )
    kp = np.concatenate([points * size, np.full((5, 1), 2.0)], axis=1).astype(np.float32)
    lo = np.minimum(points.min(0), head - 0.07 * h) - 0.03
    hi = np.maximum(points.max(0), head + 0.07 * h) + 0.03
    lo, hi = np.clip(lo, 0, 1) * size, np.clip(hi, 0, 1) * size
    box = np.array([[lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]]], np.float32)
    img = _finish(rng, img * rng.uniform(0.75, 1.1), size, rng.uniform(0.01, 0.04))
    return img, {"keypoints": kp[None], "boxes": box, "classes": np.zeros(1, np.int64), "areas": box[:, 2] * box[:, 3]}


def lane_rows(size: int, rows: int = 14) -> np.ndarray:
    """TuSimple's h_samples for this size: fixed rows below the lowest horizon."""
    return np.round(np.linspace(0.5, 0.97, rows) * size, 2).astype(np.float32)


def render_road(seed: int, index: int, size: int) -> tuple[np.ndarray, dict[str, Any]]:
    rng = np.random.default_rng([seed, index])
    u, v = _grid(size)
    horizon = rng.uniform(0.33, 0.45)
    sky = np.array([0.55, 0.7, 0.95]) * rng.uniform(0.6, 1.1)
    road = np.full(3, rng.uniform(0.2, 0.45))
    img = np.where(v < horizon, sky[:, None, None] * (1 - 0.4 * v), road[:, None, None] * (0.8 + 0.4 * v))
    img = img + 0.05 * np.sin(2 * np.pi * (rng.uniform(3, 9) * u + rng.uniform(0, 6.3))) * (v > horizon)
    vx = 0.5 + rng.uniform(-0.12, 0.12)
    curve = rng.uniform(-0.25, 0.25)
    bottoms = np.array([-0.15, 0.3, 0.7, 1.15]) + rng.uniform(-0.07, 0.07, LANE_SLOTS)
    present = rng.random(LANE_SLOTS) < np.array([0.65, 0.95, 0.95, 0.65])
    rows = lane_rows(size)
    lanes = np.full((LANE_SLOTS, len(rows)), -2.0, np.float32)

    def x_at(slot: int, y: np.ndarray) -> np.ndarray:
        t = np.clip((1 - y) / (1 - horizon), 0, 1)  # 0 at the bottom, 1 at the horizon
        return bottoms[slot] + (vx - bottoms[slot]) * t + curve * t**2

    for slot in np.nonzero(present)[0]:
        colour = np.array([0.95, 0.8, 0.1]) if slot == 1 and rng.random() < 0.5 else np.full(3, 0.95)
        dashed = rng.random() < 0.5
        width = (0.006 + 0.02 * np.clip((v - horizon) / (1 - horizon), 0, 1)) * rng.uniform(0.8, 1.2)
        on = (v > horizon + 0.04) & (np.abs(u - x_at(int(slot), v)) < width)
        if dashed:
            phase = rng.uniform(0, 1)
            on &= np.sin(2 * np.pi * (5 * np.log(np.clip(v - horizon, 1e-3, None)) + phase)) > -0.2
        _paint(img, on, colour * rng.uniform(0.8, 1.05))
        xs = x_at(int(slot), rows / size) * size
        lanes[slot] = np.where((xs >= 0) & (xs < size), xs, -2.0)
    if rng.random() < 0.3:  # a car ahead hides part of the road
        cx, w = rng.uniform(0.3, 0.7), rng.uniform(0.08, 0.16)
        _paint(img, (np.abs(u - cx) < w) & (v > horizon + 0.02) & (v < horizon + 0.02 + w), rng.random(3))
    img = _finish(rng, img * rng.uniform(0.7, 1.15), size, rng.uniform(0.01, 0.05))
    return img, {"lanes": lanes, "rows": rows}


def render_board(seed: int, index: int, size: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A PCB patch: components with pads in rows, each pad soldered; some joints defective."""
    rng = np.random.default_rng([seed, index])
    u, v = _grid(size)
    board = np.array([0.05, 0.35, 0.12]) * rng.uniform(0.7, 1.3)
    img = board[:, None, None] + 0.03 * np.sin(2 * np.pi * 23 * (u + v)) + np.zeros_like(u)
    copper, silver = np.array([0.85, 0.5, 0.2]), np.array([0.82, 0.84, 0.86])
    inst = np.zeros((size, size), np.int32)
    cls: list[int] = []
    defect_p = rng.uniform(0.05, 0.3)
    for cell in range(4):
        if rng.random() < 0.2:
            continue
        x0, y0 = 0.08 + 0.5 * (cell % 2) + rng.uniform(-0.03, 0.03), 0.12 + 0.5 * (cell // 2) + rng.uniform(-0.03, 0.03)
        n, pad, gap = int(rng.integers(2, 5)), rng.uniform(0.035, 0.05), rng.uniform(0.085, 0.1)
        w = n * gap
        _paint(img, (u > x0) & (u < x0 + w) & (v > y0 + 0.06) & (v < y0 + 0.22), np.full(3, rng.uniform(0.05, 0.2)))
        for row_y in (y0 + 0.02, y0 + 0.26):
            for k in range(n):
                px = x0 + gap * (k + 0.5)
                pad_mask = (np.abs(u - px) < pad) & (np.abs(v - row_y) < pad)
                _paint(img, pad_mask, copper)
                kind = int(rng.integers(len(DEFECTS))) if rng.random() < defect_p else -1
                if kind == 0:  # missing: bare copper
                    region = pad_mask
                elif kind == 1 and k + 1 < n:  # a bridge to the next pad
                    region = (u > px - 0.8 * pad) & (u < px + gap + 0.8 * pad) & (np.abs(v - row_y) < 0.8 * pad)
                    _paint(img, region, silver)
                elif kind == 2:  # excess: a blob spilling over the pad
                    region = (u - px) ** 2 + (v - row_y) ** 2 < (1.7 * pad) ** 2
                    _paint(img, region, silver * 0.95)
                else:
                    kind = -1
                    _paint(img, (u - px) ** 2 + (v - row_y) ** 2 < (0.8 * pad) ** 2, silver)
                if kind >= 0:
                    inst[region] = len(cls) + 1
                    cls.append(kind)
    boxes, areas, keep = _boxes_of(inst, len(cls))
    img = _finish(rng, img * rng.uniform(0.8, 1.15), size, rng.uniform(0.01, 0.03))
    return img, {"boxes": boxes[keep], "classes": np.asarray(cls, np.int64)[keep], "areas": areas[keep]}


def render_street(seed: int, index: int, size: int) -> tuple[np.ndarray, dict[str, Any]]:
    rng = np.random.default_rng([seed, index])
    u, v = _grid(size)
    img = _clutter(rng, u, v)
    inst = np.zeros((size, size), np.int32)
    placed: list[tuple[float, float, float]] = []
    cls: list[int] = []
    for _ in range(int(rng.integers(1, 4))):
        spot = _place(rng, placed, 0.08, 0.16)
        if spot is None:
            continue
        cx, cy, r = spot
        c = int(rng.integers(len(SIGN_CLASSES)))
        angle = np.deg2rad(rng.uniform(-10, 10))
        du, dv = (u - cx) / r, (v - cy) / r
        a = np.cos(angle) * du + np.sin(angle) * dv
        b = -np.sin(angle) * du + np.cos(angle) * dv
        for mask, colour in _sign_masks(SIGN_CLASSES[c], a, b):
            _paint(img, mask, np.clip(colour + 0.06 * rng.standard_normal(3), 0, 1))
            inst[mask] = len(placed) + 1
        placed.append(spot)
        cls.append(c)
    boxes, areas, keep = _boxes_of(inst, len(cls))
    light = rng.uniform(0.5, 1.15)
    img = _finish(rng, img * light, size, rng.uniform(0.02, 0.06))
    return img, {"boxes": boxes[keep], "classes": np.asarray(cls, np.int64)[keep], "areas": areas[keep]}


RENDERERS: dict[str, Callable[[int, int, int], tuple[np.ndarray, dict[str, Any]]]] = {
    "objects": render_objects,
    "figures": render_figure,
    "roads": render_road,
    "pcb": render_board,
    "street": render_street,
}


def generate(
    kind: str, seed: int, count: int, size: int, height: int = 0, width: int = 0
) -> tuple[np.ndarray, Targets]:
    """``count`` images of ``kind`` (float32 (N, 3, size, size) in [0, 1]) and their exact truth; with
    ``height`` and ``width``, the centre (height, width) of scenes rendered at the larger of the two."""
    if height or width:
        h, w = height or size, width or size
        x, truth = generate(kind, seed, count, max(h, w))
        return crop(x, truth, h, w)
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be within {MIN_SIZE}..{MAX_SIZE}, got {size}")
    if count < 2:
        raise ValueError(f"samples must be at least 2, got {count}")
    render = RENDERERS[kind]
    x = np.empty((count, 3, size, size), np.float32)
    found: list[dict[str, Any]] = []
    for i in range(count):
        x[i], t = render(seed, i, size)
        found.append(t)
    return x, collect(kind, found, size)


def collect(kind: str, truth: list[dict[str, Any]], size: int) -> Targets:
    first = truth[0]
    t = Targets(
        size=(size, size),
        categories={"objects": OBJECTS, "pcb": DEFECTS, "street": SIGN_CLASSES, "figures": ("person",)}.get(kind, ()),
    )
    if "boxes" in first:
        t.boxes = [d["boxes"] for d in truth]
        t.classes = [d["classes"] for d in truth]
        t.areas = [d["areas"] for d in truth]
    if "mask" in first:
        t.masks = np.stack([d["mask"] for d in truth])
    if "keypoints" in first:
        t.keypoints = [d["keypoints"] for d in truth]
        t.keypoint_names = KEYPOINTS
    if "lanes" in first:
        t.lanes = np.stack([d["lanes"] for d in truth])
        t.rows = first["rows"]
    return t


def downsample(x: np.ndarray, scale: int) -> np.ndarray:
    """Area (box-filter) downsampling by an integer factor: exact and the same on every machine."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // scale, scale, w // scale, scale).mean(axis=(3, 5)).astype(np.float32)


def crop(x: np.ndarray, truth: Targets, h: int, w: int) -> tuple[np.ndarray, Targets]:
    """The centre (h, w) of square scenes, their truth moved with them (boxes clipped, emptied ones dropped,
    keypoints outside marked unlabelled, lane points outside absent)."""
    side = x.shape[-1]
    top, left = (side - h) // 2, (side - w) // 2
    out = Targets(size=(h, w), categories=truth.categories, keypoint_names=truth.keypoint_names)
    if truth.boxes is not None and truth.classes is not None and truth.areas is not None:
        out.boxes, out.classes, out.areas = [], [], []
        for b, c, a in zip(truth.boxes, truth.classes, truth.areas, strict=True):
            x0 = np.clip(b[:, 0] - left, 0, w)
            y0 = np.clip(b[:, 1] - top, 0, h)
            x1 = np.clip(b[:, 0] + b[:, 2] - left, 0, w)
            y1 = np.clip(b[:, 1] + b[:, 3] - top, 0, h)
            keep = (x1 > x0) & (y1 > y0)
            out.boxes.append(np.stack([x0, y0, x1 - x0, y1 - y0], 1)[keep].astype(np.float32))
            out.classes.append(c[keep])
            out.areas.append(np.minimum(a[keep], ((x1 - x0) * (y1 - y0))[keep]))
    if truth.masks is not None:
        out.masks = np.ascontiguousarray(truth.masks[:, top : top + h, left : left + w])
    if truth.keypoints is not None:
        out.keypoints = []
        for kp in truth.keypoints:
            kp = kp.copy()
            kp[..., 0] -= left
            kp[..., 1] -= top
            outside = (kp[..., 0] < 0) | (kp[..., 0] >= w) | (kp[..., 1] < 0) | (kp[..., 1] >= h)
            kp[outside] = 0.0
            out.keypoints.append(kp)
    if truth.lanes is not None and truth.rows is not None:
        lanes = np.where(truth.lanes >= 0, truth.lanes - left, -2.0)
        lanes = np.where((lanes >= 0) & (lanes < w), lanes, -2.0).astype(np.float32)
        rows = truth.rows - top
        inside = (rows >= 0) & (rows < h)
        out.lanes, out.rows = lanes[..., inside], rows[inside]
    return np.ascontiguousarray(x[:, :, top : top + h, left : left + w]), out
