"""Manifests: find them, load them safely, validate them, and report every problem at once.

The package is light to import (its dataclasses live on the ground floor, ``core.model``); the
loader (``manifest.loader``: YAML, JSON Schema, the registries) is imported when one of its names
is first used from here.
"""

from __future__ import annotations

import importlib
from typing import Any

_LOADER = ("LoadedSuite", "ManifestError", "discover", "load", "load_all")
_MODEL = ("Gate", "Settings", "Suite")


def __getattr__(name: str) -> Any:
    if name in _LOADER:
        return getattr(importlib.import_module("pytest_aibench.manifest.loader"), name)
    if name in _MODEL:
        return getattr(importlib.import_module("pytest_aibench.core.model"), name)
    if name == "Case":
        return importlib.import_module("pytest_aibench.core.case").Case
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Case", "Gate", "LoadedSuite", "ManifestError", "Settings", "Suite", "discover", "load", "load_all"]
