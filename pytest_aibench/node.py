"""The node an item runs on. Core runs everything on the host; simulated edge and cloud nodes
extend this with compute, memory, power and links."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any


def host_threads() -> int:
    """CPUs this process may run on (affinity), which is what a runtime's thread pool can use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Node:
    name: str = "host"
    kind: str = "host"
    threads: int = field(default_factory=host_threads)
    #: power model watts (None: the host default in measure.energy)
    idle_w: float | None = None
    max_w: float | None = None

    def describe(self) -> dict[str, Any]:
        return asdict(self)
