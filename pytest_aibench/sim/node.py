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
    #: where each figure comes from: (figure, "URL (date): what it says" or "illustrative: why")
    sources: tuple[tuple[str, str], ...] = ()
    #: gflops is measured on this host at run start (a float32 GEMM), not assumed: the ``host`` profile
    calibrated: bool = False
    #: the roofline (sim.roofline): peak compute per precision it can run (GFLOP/s or GOP/s; a precision
    #: missing here is not offered: its items skip), memory bandwidth (GB/s), and dispatch costs (µs)
    peak_gflops: tuple[tuple[str, float], ...] = ()
    bandwidth_gbs: float | None = None
    op_overhead_us: float | None = None
    call_overhead_us: float | None = None
    #: precisions it stores but computes in fp32 (a CPU without fp16 arithmetic runs an fp16 model so)
    upcast: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["speedup"] = dict(self.speedup)
        out["sources"] = dict(self.sources)
        out["peak_gflops"] = dict(self.peak_gflops)
        return out

    def speedup_for(self, quantization: str) -> float:
        return dict(self.speedup).get(quantization, 1.0)

    def computes_in(self, quantization: str) -> str:
        """The precision ``quantization``'s arithmetic runs in on this device (fp32 where it is upcast)."""
        precision = PRECISION.get(quantization, quantization)
        return "fp32" if precision in self.upcast else precision

    def peak_for(self, quantization: str) -> float | None:
        """Peak GFLOP/s (GOP/s) of the precision ``quantization`` computes in, or None where not offered."""
        return dict(self.peak_gflops).get(self.computes_in(quantization)) if self.peak_gflops else None

    def offers(self, quantization: str) -> bool:
        """Whether the device has a compute path for the precision (a profile without peaks offers all)."""
        return not self.peak_gflops or self.peak_for(quantization) is not None


#: the precision a quantization computes in (dynamic int8 quantizes activations at run time: int8 compute)
PRECISION = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "int8": "int8", "int8_dynamic": "int8"}


def _cite(**figures: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(figures.items()))


_ILLUSTRATIVE = "illustrative: a round figure for this class of device, not from a datasheet"
_PRICE = "illustrative: an amortised hardware (edge) or on-demand (cloud) cost per hour, not a quote"
_SPEEDUP = (
    "illustrative: the ratio of the vendor's low-precision to fp32 peak, rounded down; sustained "
    "ratios depend on the model and runtime"
)
_PI_POWER = (
    "https://www.pidramble.com/wiki/benchmarks/power-consumption (Pi Dramble, 2019): Raspberry Pi 4 "
    "model B, 540 mA idle and 1280 mA under load at 5 V"
)
_PI_SPEC = "https://www.raspberrypi.com/products/raspberry-pi-4-model-b/specifications/ (Raspberry Pi, 2019)"
_NANO = "https://developer.nvidia.com/embedded/jetson-nano-developer-kit (NVIDIA, 2019)"
_ORIN = "https://www.nvidia.com/en-us/autonomous-machines/embedded-systems/jetson-orin/ (NVIDIA, 2023)"
_ORIN_DS = (
    "https://www.nvidia.com/content/dam/en-zz/Solutions/gtcf21/jetson-orin/nvidia-jetson-orin-nx-series-"
    "data-sheet.pdf (NVIDIA, Jetson Orin NX series data sheet, 2023)"
)
_DISPATCH = (
    "illustrative: per-operator dispatch of a CPU runtime (a few µs) or a CUDA kernel launch (5-10 µs); "
    "the host's is measured"
)

#: Built-in profiles: sustained (not peak) figures, each with its source or marked illustrative.
PROFILES: dict[str, Node] = {
    "mcu": Node(
        "mcu",
        "microcontroller",
        1,
        idle_w=0.05,
        max_w=0.3,
        gflops=0.2,
        memory_mb=1.0,
        price_per_hour=0.0001,
        speedup=(("int8", 4.0),),
        peak_gflops=(("fp32", 1.2), ("int8", 4.8)),
        bandwidth_gbs=2.4,
        upcast=("fp16",),
        op_overhead_us=2.0,
        call_overhead_us=20.0,
        sources=_cite(
            idle_w=_ILLUSTRATIVE,
            max_w=_ILLUSTRATIVE,
            gflops="illustrative: a Cortex-M7-class core at a few hundred MHz with DSP extensions",
            memory_mb=_ILLUSTRATIVE,
            price_per_hour=_PRICE,
            speedup="illustrative: CMSIS-NN int8 SIMD against scalar float",
            peak_gflops="illustrative: a 600 MHz Cortex-M7, one single-precision FMA per cycle "
            "(1.2 GFLOP/s) and 4x that in int8 SIMD (CMSIS-NN)",
            bandwidth_gbs="illustrative: 32-bit SRAM at the core clock",
            op_overhead_us=_DISPATCH,
            call_overhead_us=_DISPATCH,
        ),
    ),
    "rpi4": Node(
        "rpi4",
        "raspberry-pi",
        4,
        idle_w=2.7,
        max_w=6.4,
        gflops=8.0,
        memory_mb=4096,
        price_per_hour=0.002,
        speedup=(("int8", 2.0), ("int8_dynamic", 1.3)),
        peak_gflops=(("fp32", 48.0), ("int8", 96.0)),
        bandwidth_gbs=6.4,
        upcast=("fp16",),
        op_overhead_us=5.0,
        call_overhead_us=40.0,
        sources=_cite(
            idle_w=_PI_POWER,
            max_w=_PI_POWER,
            memory_mb=_PI_SPEC + ": 4 GB LPDDR4 option",
            gflops="illustrative: four Cortex-A72 cores at 1.5 GHz (" + _PI_SPEC + "), a sustained "
            "fraction of their NEON peak",
            price_per_hour=_PRICE,
            speedup=_SPEEDUP,
            peak_gflops="derived: 4 cores x 1.5 GHz (" + _PI_SPEC + ") x 8 fp32 FLOP/cycle (one "
            "128-bit NEON FMA per cycle, Cortex-A72); int8 x2 (illustrative: no dot-"
            "product instructions on the A72, 16-bit accumulation)",
            bandwidth_gbs="illustrative: half the LPDDR4-3200 32-bit bus's 12.8 GB/s ("
            + _PI_SPEC
            + "), what STREAM-style copies reach on a Pi 4",
            op_overhead_us=_DISPATCH,
            call_overhead_us=_DISPATCH,
        ),
    ),
    # Maxwell (compute 5.3) has native fp16 but no int8 dot-product path: int8 is not offered
    "jetson_nano": Node(
        "jetson_nano",
        "jetson",
        4,
        idle_w=1.5,
        max_w=10.0,
        gflops=60.0,
        memory_mb=4096,
        price_per_hour=0.005,
        speedup=(("fp16", 2.0),),
        peak_gflops=(("fp32", 236.0), ("fp16", 472.0)),
        bandwidth_gbs=25.6,
        op_overhead_us=10.0,
        call_overhead_us=60.0,
        sources=_cite(
            max_w=_NANO + ": 5 W and 10 W power modes",
            memory_mb=_NANO + ": 4 GB",
            gflops="illustrative: sustained fp32, against the " + _NANO + " 472 GFLOPS fp16 peak",
            idle_w=_ILLUSTRATIVE,
            price_per_hour=_PRICE,
            speedup=_SPEEDUP,
            peak_gflops=_NANO + ": 472 GFLOPS fp16; fp32 at half rate (128 Maxwell CUDA "
            "cores); no int8 path (Maxwell has no DP4A or tensor cores)",
            bandwidth_gbs=_NANO + ": 4 GB 64-bit LPDDR4, 25.6 GB/s",
            op_overhead_us=_DISPATCH,
            call_overhead_us=_DISPATCH,
        ),
    ),
    "jetson_orin": Node(
        "jetson_orin",
        "jetson",
        8,
        idle_w=5.0,
        max_w=25.0,
        gflops=400.0,
        memory_mb=16384,
        price_per_hour=0.02,
        speedup=(("fp16", 2.0), ("int8", 4.0)),
        peak_gflops=(("fp32", 1880.0), ("fp16", 3760.0), ("int8", 50000.0)),
        bandwidth_gbs=102.4,
        op_overhead_us=6.0,
        call_overhead_us=40.0,
        sources=_cite(
            max_w=_ORIN + ": Orin NX 16GB, 10-25 W",
            memory_mb=_ORIN + ": Orin NX 16GB",
            gflops="illustrative: sustained fp32 of an Orin NX-class GPU",
            idle_w=_ILLUSTRATIVE,
            price_per_hour=_PRICE,
            speedup=_SPEEDUP,
            peak_gflops="derived: 1024 Ampere CUDA cores at 918 MHz x 2 FLOP ("
            + _ORIN_DS
            + "); fp16 at twice that (illustrative: without tensor cores); int8 "
            "half the data sheet's 100 sparse TOPS (dense)",
            bandwidth_gbs=_ORIN_DS + ": 128-bit LPDDR5, 102.4 GB/s",
            op_overhead_us=_DISPATCH,
            call_overhead_us=_DISPATCH,
        ),
    ),
    "mec": Node(
        "mec",
        "edge-server",
        16,
        idle_w=60.0,
        max_w=250.0,
        gflops=1000.0,
        memory_mb=65536,
        price_per_hour=0.5,
        speedup=(("int8", 2.0), ("bf16", 1.5)),
        peak_gflops=(("fp32", 2000.0), ("bf16", 3000.0), ("int8", 4000.0)),
        bandwidth_gbs=100.0,
        upcast=("fp16",),
        op_overhead_us=3.0,
        call_overhead_us=20.0,
        sources=_cite(
            idle_w=_ILLUSTRATIVE,
            max_w=_ILLUSTRATIVE,
            gflops=_ILLUSTRATIVE,
            memory_mb=_ILLUSTRATIVE,
            price_per_hour=_PRICE,
            speedup=_SPEEDUP,
            peak_gflops=_ILLUSTRATIVE + " (16 AVX-512 cores)",
            bandwidth_gbs=_ILLUSTRATIVE,
            op_overhead_us=_DISPATCH,
            call_overhead_us=_DISPATCH,
        ),
    ),
    "cloud": Node(
        "cloud",
        "cloud-server",
        64,
        idle_w=120.0,
        max_w=450.0,
        gflops=10000.0,
        memory_mb=524288,
        price_per_hour=3.0,
        speedup=(("fp16", 1.5), ("bf16", 1.5), ("int8", 2.0)),
        peak_gflops=(("fp32", 20000.0), ("fp16", 30000.0), ("bf16", 30000.0), ("int8", 40000.0)),
        bandwidth_gbs=400.0,
        op_overhead_us=3.0,
        call_overhead_us=20.0,
        sources=_cite(
            idle_w=_ILLUSTRATIVE,
            max_w=_ILLUSTRATIVE,
            gflops=_ILLUSTRATIVE,
            memory_mb=_ILLUSTRATIVE,
            price_per_hour=_PRICE,
            speedup=_SPEEDUP,
            peak_gflops=_ILLUSTRATIVE,
            bandwidth_gbs=_ILLUSTRATIVE,
            op_overhead_us=_DISPATCH,
            call_overhead_us=_DISPATCH,
        ),
    ),
    # this machine: its peak, bandwidth, per-kind efficiencies and dispatch costs measured here
    # (sim.roofline.calibrate), so its simulated latency can be checked against the latency really
    # measured here, beside it (the simulator's own error)
    "host": Node(
        "host",
        "host (calibrated)",
        calibrated=True,
        idle_w=5.0 * host_threads(),
        max_w=15.0 * host_threads(),
        upcast=("fp16", "bf16"),  # ONNX Runtime's CPU provider casts fp16 weights and computes in fp32
        sources=_cite(
            gflops="measured: float32 GEMM on this host at run start (sim.calibrate.host_gflops)",
            peak_gflops="measured: the roofline calibration's 512x512 GEMM (sim.roofline.calibrate)",
            bandwidth_gbs="measured: the calibration's 16 MiB streaming operator",
            idle_w="illustrative: the host power model (measure.energy), 5 W per core idle",
            max_w="illustrative: the host power model (measure.energy), 15 W per core busy",
        ),
    ),
}


def profile(name: str, overrides: dict[str, Any] | None = None) -> Node:
    """A built-in profile, optionally amended (``{profile: rpi4, gflops: 12}``)."""

    if name not in PROFILES:
        raise KeyError(f"unknown node profile {name!r}; built in: {', '.join(PROFILES)}{suggest(name, PROFILES)}")
    node = PROFILES[name]
    over = {k: v for k, v in (overrides or {}).items() if k in Node.__dataclass_fields__}
    if isinstance(over.get("upcast"), list):
        over["upcast"] = tuple(str(v) for v in over["upcast"])
    for key in ("speedup", "peak_gflops"):
        if isinstance(over.get(key), dict):
            over[key] = tuple(sorted((str(k), float(v)) for k, v in over[key].items()))
    if over:  # an amended figure is the manifest's, not the profile's source
        cited = dict(node.sources) | {k: "the manifest's nodes: entry" for k in over if k in _FIGURES}
        over["sources"] = tuple(sorted(cited.items()))
    return replace(node, **over) if over else node


_FIGURES = (
    "idle_w",
    "max_w",
    "gflops",
    "memory_mb",
    "price_per_hour",
    "speedup",
    "peak_gflops",
    "bandwidth_gbs",
    "op_overhead_us",
    "call_overhead_us",
)
