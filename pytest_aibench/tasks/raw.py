"""Raw outputs as runners return them: one array, or several named ones (``output: [boxes, scores]``)
that a task decodes together. Paradigms batch, slice and merge them through these few functions, so a
model with several outputs travels the same paths as one with a single output."""

from __future__ import annotations

from typing import Any

import numpy as np

Raw = Any  # np.ndarray, or dict[str, np.ndarray] with the same first (sample) dimension


def concat(parts: list[Raw]) -> Raw:
    """Batches joined along the sample axis."""
    if parts and isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def in_fixed_batches(batch: np.ndarray, size: int, run: Any) -> Raw:
    """A model exported with a fixed batch ``size``: ``run`` over chunks of it, the last padded with zeros,
    each chunk's outputs (an array or a dict of them) cut back to its real rows and joined."""
    outs = []
    for i in range(0, len(batch), size):
        chunk = batch[i : i + size]
        n = len(chunk)
        if n < size:
            chunk = np.concatenate([chunk, np.zeros((size - n, *chunk.shape[1:]), chunk.dtype)])
        outs.append(head(run(chunk), n))
    return concat(outs)


def head(raw: Raw, n: int) -> Raw:
    return {k: v[:n] for k, v in raw.items()} if isinstance(raw, dict) else raw[:n]


def shape(raw: Raw) -> Any:
    """Per-sample shape(s): what two models' answers must share to stand in for each other."""
    return {k: tuple(v.shape[1:]) for k, v in raw.items()} if isinstance(raw, dict) else tuple(raw.shape[1:])


def sample_bytes(raw: Raw) -> int:
    return int(sum(v[0].nbytes for v in raw.values())) if isinstance(raw, dict) else int(raw[0].nbytes)


def merged(base: Raw, other: Raw, take: np.ndarray) -> Raw:
    """``base`` with the samples where ``take`` is true replaced by ``other``'s."""
    if isinstance(base, dict):
        return {k: np.where(take.reshape(-1, *([1] * (v.ndim - 1))), other[k], v) for k, v in base.items()}
    return np.where(take.reshape(-1, *([1] * (base.ndim - 1))), other, base)


def arrays(raw: Raw) -> list[np.ndarray]:
    return list(raw.values()) if isinstance(raw, dict) else [raw]
