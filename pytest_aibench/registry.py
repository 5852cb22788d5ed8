"""Named registries for everything a manifest can name: runners, datasets, paradigms, metric groups,
scenarios, quantizations.

Built-ins are registered as ``"module:attribute"`` strings and imported on first use, so naming a
runner never imports its runtime. Third parties add entries through an entry-point group (listed
without importing anything) or by calling :meth:`Registry.register` from a plugin or conftest.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import distributions
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


def suggest(word: str, choices: Any) -> str:
    """A '; did you mean ...?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def import_path(path: str) -> Any:
    """Import ``"package.module:attr"``."""
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class UnknownName(LookupError):
    """A registry has no entry of that name; the message lists the known ones."""


#: every registry made, so a new pytest session can forget what the last one loaded (:func:`fresh`)
_ALL: list[Registry[Any]] = []


def fresh() -> None:
    """Forget every registry's loaded objects and entry-point scan, keeping its entries: each pytest
    session (config) loads its runners, paradigms, metrics and formats afresh, from the modules it has
    imported, so an object from an earlier in-process session (pytester) never meets this one's classes."""
    _SCAN.clear()
    for registry in _ALL:
        registry._loaded.clear()
        registry._entries = {k: v for k, v in registry._entries.items() if not _is_entry_point(v)}
        registry._scanned = False


#: every installed entry point, read once per session (each read walks every distribution's metadata:
#: ~10 ms here, and there are eight registries)
_SCAN: list[Any] = []


def _entry_points(group: str) -> list[Any]:
    if not _SCAN:
        _SCAN.append(_ours())
    return [ep for ep in _SCAN[0] if ep.group == group]


def _ours() -> list[Any]:
    """Entry points in this plugin's groups: only distributions whose ``entry_points.txt`` names one are
    parsed (parsing every installed one, as ``entry_points()`` does, was a tenth of collecting a
    manifest); the first of a name on ``sys.path`` wins, as ``entry_points()`` has it."""
    seen: set[str] = set()
    out: list[Any] = []
    for dist in distributions():
        name = getattr(dist, "_normalized_name", None) or dist.metadata["Name"]
        if name in seen:
            continue
        seen.add(name)
        text = dist.read_text("entry_points.txt")
        if text and "pytest_aibench." in text:
            out += [ep for ep in dist.entry_points if ep.group.startswith("pytest_aibench.")]
    return out


def _is_entry_point(entry: Any) -> bool:
    return hasattr(entry, "load") and hasattr(entry, "group")


class Registry(Generic[T]):
    """Name -> object, loaded lazily from import paths and entry points (per pytest session: :func:`fresh`)."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str | T] | None = None):
        self.kind = kind
        self.group = group
        self._entries: dict[str, str | T | Callable[[], T]] = dict(builtins or {})
        self._loaded: dict[str, T] = {}
        self._scanned = False
        _ALL.append(self)

    def register(self, name: str, obj: str | T, *, replace: bool = False) -> None:
        """Add ``obj`` (or an import path to it) under ``name``."""
        if not replace and name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True to override)")
        self._entries[name] = obj
        self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        self._loaded.pop(name, None)

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True

        for ep in _entry_points(self.group):
            self._entries.setdefault(ep.name, ep)

    def names(self) -> list[str]:
        self._scan()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._scan()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The entry called ``name``, importing it on first use."""
        if name in self._loaded:
            return self._loaded[name]
        self._scan()
        try:
            entry = self._entries[name]
        except KeyError:
            raise UnknownName(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._entries))}{suggest(name, self._entries)}"
            ) from None
        if isinstance(entry, str):
            obj = import_path(entry)
        elif _is_entry_point(entry):  # an importlib.metadata.EntryPoint
            obj = cast(Any, entry).load()
        else:
            obj = entry
        if isinstance(obj, type):  # classes are instantiated once, with no arguments
            obj = obj()
        self._loaded[name] = obj
        return obj


#: each registry lives beside the protocol its entries implement; these names stay importable from here
HOMES = {
    "RUNNERS": "pytest_aibench.runtimes",
    "DATASETS": "pytest_aibench.data",
    "PARADIGMS": "pytest_aibench.paradigms",
    "METRICS": "pytest_aibench.judge.metrics",
    "SCENARIOS": "pytest_aibench.measure.loadgen",
    "QUANTIZATIONS": "pytest_aibench.quantization",
}


def __getattr__(name: str) -> Any:
    """``from pytest_aibench.registry import RUNNERS`` (the documented spelling) finds each registry in
    its home module, imported on first use."""
    if name in HOMES:
        return getattr(importlib.import_module(HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
