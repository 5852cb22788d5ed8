"""A small CNN for 8x8 digits: the smoke suite's model, cheap enough to train in seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy
from pytest_aibench.zoo.families import global_pool

if TYPE_CHECKING:
    from torch import nn
else:
    nn = lazy("torch.nn")


def build(width: int = 16, num_classes: int = 10, in_channels: int = 1) -> Any:
    """conv-bn-relu ×2, max-pool, conv-bn-relu, global average pool, linear."""
    w = width
    return nn.Sequential(
        nn.Conv2d(in_channels, w, 3, padding=1, bias=False),
        nn.BatchNorm2d(w),
        nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, padding=1, bias=False),
        nn.BatchNorm2d(2 * w),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * w, 2 * w, 3, padding=1, bias=False),
        nn.BatchNorm2d(2 * w),
        nn.ReLU(),
        global_pool(),
        nn.Linear(2 * w, num_classes),
    )
