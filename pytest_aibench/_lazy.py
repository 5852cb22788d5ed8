"""The one lazy-import boundary.

pytest imports the plugin in every session, with or without ``--aibench``, so the modules on that
path (``plugin``, ``fixtures``, ``state``, ``hookspec``) import the rest of the package through
:func:`lazy`; and each runner imports its runtime (torch, onnxruntime, LiteRT) the same way. Inside
the package everything else imports at the top, in layers without cycles.

A lazy module is imported on the first attribute access, never earlier: ``name in sys.modules``
keeps telling whether something really imported it (seeding and machine info rely on that). Each
access reads the module from ``sys.modules``, so a module imported again (pytester's in-process runs
drop what they imported) is the one used, not a stale copy.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module until an attribute is read; then imports it and behaves as it."""

    __slots__ = ("_name",)

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def _load(self) -> ModuleType:
        name = object.__getattribute__(self, "_name")
        module = sys.modules.get(name)
        return module if module is not None else importlib.import_module(name)

    def __getattr__(self, attr: str) -> Any:
        name = object.__getattribute__(self, "_name")
        if attr.startswith("_") and name not in sys.modules:
            # pytest and pluggy probe every attribute of a plugin module (fixture markers, hook markers):
            # such probes must not import the module
            raise AttributeError(attr)
        return getattr(self._load(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._load(), attr, value)

    def __repr__(self) -> str:
        name = object.__getattribute__(self, "_name")
        return f"<lazy module {name!r}{'' if name in sys.modules else ' (not imported yet)'}>"


def lazy(name: str) -> Any:
    """``torch = lazy("torch")``: a module imported on first use (typed ``Any`` for callers; import
    the real module under ``TYPE_CHECKING`` where types matter)."""
    return LazyModule(name)
