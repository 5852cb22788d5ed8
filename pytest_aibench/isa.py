"""The CPU instruction-set extensions that pick a runtime's kernels, as this process sees them.

Quantized and float kernels in ONNX Runtime (MLAS), oneDNN and XNNPACK are chosen by CPUID at run
time: the same artifact runs different code on an AVX2-only CPU and on one with AVX-512/VNNI. Every
result records the flags below, so a changed figure can be traced to a changed instruction set.

Flags come from CPUID as numpy's dispatcher reads it (what the process really sees, also under an
emulator), completed from ``/proc/cpuinfo`` for the few numpy does not probe (AVX-VNNI, AMX) when
the two sources agree on the rest. Names are Linux's (``/proc/cpuinfo``) spelling.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache
from pathlib import Path

#: the extensions that select int8/fp16/bf16/fp32 kernels on x86, in report order
KERNEL_FLAGS = (
    "sse4_1",
    "sse4_2",
    "avx",
    "fma",
    "f16c",
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)

#: numpy's CPUID feature names -> Linux's
_NUMPY = {
    "SSE41": "sse4_1",
    "SSE42": "sse4_2",
    "AVX": "avx",
    "FMA3": "fma",
    "F16C": "f16c",
    "AVX2": "avx2",
    "AVX512F": "avx512f",
    "AVX512BW": "avx512bw",
    "AVX512VL": "avx512vl",
    "AVX512VNNI": "avx512_vnni",
    "AVX512BF16": "avx512_bf16",
    "AVX512FP16": "avx512_fp16",
}
#: flags numpy does not probe; taken from /proc/cpuinfo
_CPUINFO_ONLY = ("avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


def _numpy_features() -> dict[str, bool] | None:
    umath = importlib.util.find_spec("numpy._core._multiarray_umath") or importlib.util.find_spec(
        "numpy.core._multiarray_umath"
    )
    if umath is None:
        return None
    features = getattr(importlib.import_module(umath.name), "__cpu_features__", None)
    return dict(features) if features is not None else None


def _cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def detect(numpy_features: dict[str, bool] | None, cpuinfo: set[str] | None) -> list[str]:
    """The kernel-selecting flags present, in :data:`KERNEL_FLAGS` order (pure: for tests)."""
    present: set[str] = set()
    if numpy_features is not None:
        present = {linux for np_name, linux in _NUMPY.items() if numpy_features.get(np_name)}
        # /proc/cpuinfo describes the host even under an emulator; trust it only where it agrees
        if cpuinfo is not None and all((f in cpuinfo) == (f in present) for f in ("avx2", "avx512f", "avx512_vnni")):
            present |= {f for f in _CPUINFO_ONLY if f in cpuinfo}
    elif cpuinfo is not None:
        present = {f for f in KERNEL_FLAGS if f in cpuinfo}
    return [f for f in KERNEL_FLAGS if f in present]


@lru_cache(maxsize=1)
def isa_flags() -> tuple[str, ...]:
    """This process's kernel-selecting ISA flags (cached: they do not change while it runs)."""
    return tuple(detect(_numpy_features(), _cpuinfo_flags()))


def level(flags: list[str] | tuple[str, ...]) -> str:
    """A one-word summary of what decides int8 kernels: ``avx512_vnni``, ``avx512``, ``avx_vnni``,
    ``avx2`` (int8 dot products through int16 pairs that can saturate), ``sse4`` or ``baseline``."""
    f = set(flags)
    if "avx512_vnni" in f:
        return "avx512_vnni"
    if "avx512bw" in f:
        return "avx512"
    if "avx_vnni" in f:
        return "avx_vnni"
    if "avx2" in f:
        return "avx2"
    return "sse4" if "sse4_1" in f else "baseline"


def describe(flags: list[str] | tuple[str, ...]) -> str:
    """``avx2 (avx, fma, f16c, avx2; no avx512f, no avx512_vnni, no avx_vnni)``: what a reader compares."""
    f = list(flags)
    lacks = [n for n in ("avx512f", "avx512_vnni", "avx_vnni") if n not in f]
    shown = ", ".join(x for x in f if x not in ("sse4_1", "sse4_2")) or "no AVX"
    return f"{level(f)} ({shown}" + (f"; no {', no '.join(lacks)})" if lacks else ")")


def difference(a: list[str] | tuple[str, ...] | None, b: list[str] | tuple[str, ...] | None) -> str | None:
    """How two runs' instruction sets differ, in words; None when equal or unknown."""
    if not a or not b or list(a) == list(b):
        return None
    only_a = [f for f in a if f not in b]
    only_b = [f for f in b if f not in a]
    parts = []
    if only_a:
        parts.append(f"baseline had {', '.join(only_a)}")
    if only_b:
        parts.append(f"now has {', '.join(only_b)}")
    return f"ISA differs: baseline {level(a)}, now {level(b)} ({'; '.join(parts)})"
