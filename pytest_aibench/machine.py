"""What machine a run happened on: enough for someone else to judge and re-run it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from pytest_aibench.isa import isa_flags, level
from pytest_aibench.versions import version_of

_DISTS = (
    "pytest",
    "pytest-aibench",
    "numpy",
    "onnx",
    "mlcommons-loadgen",
    "pytest-xdist",
    "torchao",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_summary() -> dict[str, Any]:
    """The CPU model and the ISA flags that pick kernels: what every result carries, so a figure can
    be traced to the instruction set it was measured on (also on a device-farm worker)."""

    flags = list(isa_flags())
    return {"cpu": _cpu_model(), "arch": platform.machine(), "isa": flags, "isa_level": level(flags)}


def _git(rootdir: Path) -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=rootdir, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return {}
    return {
        "commit": commit,
        "branch": run("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(run("status", "--porcelain", "--untracked-files=no")),
    }


def machine_info(rootdir: Path, packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """This machine as a run records it; ``packages``: the registered runtimes' distributions besides ours."""

    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        affinity = os.cpu_count()
    threads: dict[str, Any] = {
        k: os.environ.get(k)
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        if os.environ.get(k)
    }
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        threads["torch_intra_op"] = torch.get_num_threads()
        threads["torch_inter_op"] = torch.get_num_interop_threads()
    isa = cpu_summary()
    return {
        "node": platform.node(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu": {
            "model": _cpu_model(),
            "logical": os.cpu_count(),
            "physical": psutil.cpu_count(logical=False),
            "affinity": affinity,
            "isa": isa["isa"],
            "isa_level": isa["isa_level"],
        },
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 2),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "compiler": platform.python_compiler(),
            "build": list(platform.python_build()),
        },
        "versions": {d: version_of(d) for d in dict.fromkeys((*_DISTS, *packages))},
        "threads": threads,
        "git": _git(rootdir),
    }
