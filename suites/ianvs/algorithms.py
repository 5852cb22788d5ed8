"""A user algorithm for the ianvs suite: a coordinate-wise trimmed mean, robust to one bad client.

Any ``module:callable`` in this folder can stand in for a paradigm's stage; this one is an
``aggregation`` stage: (updates, template) -> the new global state dict, where ``updates`` are
(state dict, samples) pairs of the clients whose update arrived."""

from __future__ import annotations

from typing import Any


def trimmed_mean(updates: list[tuple[dict[str, Any], int]], template: dict[str, Any]) -> dict[str, Any]:
    """Each weight's mean over the clients after dropping its largest and smallest value (plain mean
    with fewer than three clients)."""
    import torch

    out = {}
    for name, like in template.items():
        stacked = torch.stack([sd[name].float() for sd, _ in updates])
        if len(updates) >= 3:
            stacked = stacked.sort(dim=0).values[1:-1]
        out[name] = stacked.mean(dim=0).to(like.dtype)
    return out
