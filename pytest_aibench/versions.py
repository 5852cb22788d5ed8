"""Installed distributions' versions (ground floor): what a run records about its tools."""

from __future__ import annotations

import importlib.metadata


def version_of(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None when it is not installed."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
