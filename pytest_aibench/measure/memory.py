"""Resident memory readings for the current process.

Per-item peaks use Linux's resettable high-water mark: writing 5 to /proc/self/clear_refs resets
VmHWM to the current RSS, so the VmHWM read after an item is that item's own peak. Where that is
not possible, the process's lifetime peak (ru_maxrss) is reported and labelled as such.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from pytest_aibench._lazy import lazy

psutil = lazy("psutil")  # read while measuring; a manifest's validation imports this module too


def rss_mb() -> float:
    """Current resident set size in MiB."""

    return psutil.Process().memory_info().rss / 2**20


def reset_peak() -> bool:
    """Reset this process's resident high-water mark; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """The resident high-water mark in MiB: VmHWM (since the last reset) or ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024
