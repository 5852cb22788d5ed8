"""The node an item runs on: the host by default, or a simulated device with a compute, memory,
power and price profile (built in, or defined in a manifest's ``nodes:``)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pytest_aibench.registry import suggest


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
    #: simulated devices: sustained compute (GFLOP/s), memory (MiB), price (per hour), None on the host
    gflops: float | None = None
    memory_mb: float | None = None
    price_per_hour: float | None = None
    #: throughput multipliers of lower precisions over fp32 on this class of device (an assumption,
    #: from vendors' published int8/fp16 ratios; the host measures nothing here)
    speedup: tuple[tuple[str, float], ...] = ()

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["speedup"] = dict(self.speedup)
        return out

    def speedup_for(self, quantization: str) -> float:
        return dict(self.speedup).get(quantization, 1.0)



#: Built-in profiles, from public datasheets of each class of device (sustained, not peak, figures).
PROFILES: dict[str, Node] = {
    "mcu": Node("mcu", "microcontroller", 1, idle_w=0.05, max_w=0.3, gflops=0.2, memory_mb=1.0, price_per_hour=0.0001,
                speedup=(("int8", 4.0),)),
    "rpi4": Node("rpi4", "raspberry-pi", 4, idle_w=2.7, max_w=6.4, gflops=8.0, memory_mb=4096, price_per_hour=0.002,
                 speedup=(("int8", 2.0), ("int8_dynamic", 1.3))),
    "jetson_nano": Node("jetson_nano", "jetson", 4, idle_w=1.5, max_w=10.0, gflops=60.0, memory_mb=4096,
                        price_per_hour=0.005, speedup=(("fp16", 2.0), ("int8", 2.0))),
    "jetson_orin": Node("jetson_orin", "jetson", 8, idle_w=5.0, max_w=25.0, gflops=400.0, memory_mb=16384,
                        price_per_hour=0.02, speedup=(("fp16", 2.0), ("int8", 4.0))),
    "mec": Node("mec", "edge-server", 16, idle_w=60.0, max_w=250.0, gflops=1000.0,
                memory_mb=65536, price_per_hour=0.5, speedup=(("int8", 2.0), ("bf16", 1.5))),
    "cloud": Node("cloud", "cloud-server", 64, idle_w=120.0, max_w=450.0, gflops=10000.0, memory_mb=524288,
                  price_per_hour=3.0, speedup=(("fp16", 1.5), ("bf16", 1.5), ("int8", 2.0))),
}


def profile(name: str, overrides: dict[str, Any] | None = None) -> Node:
    """A built-in profile, optionally amended (``{profile: rpi4, gflops: 12}``)."""

    if name not in PROFILES:
        raise KeyError(f"unknown node profile {name!r}; built in: {', '.join(PROFILES)}{suggest(name, PROFILES)}")
    node = PROFILES[name]
    over = {k: v for k, v in (overrides or {}).items() if k in Node.__dataclass_fields__}
    if isinstance(over.get("speedup"), dict):
        over["speedup"] = tuple(sorted((str(k), float(v)) for k, v in over["speedup"].items()))
    return replace(node, **over) if over else node
