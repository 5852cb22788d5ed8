"""Resident memory readings for the current process."""

from __future__ import annotations

import resource
import sys


def rss_mb() -> float:
    """Current resident set size in MiB."""
    import psutil  # noqa: PLC0415

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """The process's resident high-water mark in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024
