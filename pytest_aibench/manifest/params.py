"""Paradigm parameters against what each paradigm declares (its frozen ``Params`` dataclass): ``params:``
names a known paradigm and only its parameters, each value of the declared type; a ``grid:`` parameter is
a setting or a parameter of a paradigm the suite runs, each of its values typed the same way. Every
problem names file:line:key, what was expected and, where a name is close, the one meant."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from pytest_aibench.core.model import Settings
from pytest_aibench.manifest.checker import Checker
from pytest_aibench.paradigms import PARADIGMS, params_of
from pytest_aibench.registry import suggest


def declared(paradigm: str) -> dict[str, Any] | None:
    """Parameter name -> declared type of ``paradigm`` (None: it declares no ``Params``)."""
    cls = params_of(paradigm)
    if cls is None:
        return None
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def type_problem(value: Any, kind: Any) -> str | None:
    """What ``kind`` expects when ``value`` is not one (None when it is)."""
    if kind is Any:
        return None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if any(type_problem(value, a) is None for a in args):
            return None
        return " or ".join(str(type_problem(object(), a)) for a in args)
    if origin in (tuple, list):
        item = args[0] if args else Any
        if not isinstance(value, list):
            return f"a list of {type_problem(object(), item)}s"
        bad = next((v for v in value if type_problem(v, item) is not None), None)
        return None if bad is None else f"a list of {type_problem(object(), item)}s ({bad!r} is not one)"
    if kind is type(None):
        return None if value is None else "null"
    if kind is bool:
        return None if isinstance(value, bool) else "true or false"
    if kind is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if kind is float:  # YAML reads 1e12 (no dot) as a string; the paradigms read it as the number it spells
        return (
            None if isinstance(value, (int, float)) and not isinstance(value, bool) or _numeral(value) else "a number"
        )
    if kind is str:
        return None if isinstance(value, str) else "a string"
    return None


def _numeral(value: Any) -> bool:
    try:
        return isinstance(value, str) and float(value) == float(value)
    except ValueError:
        return False


def check(c: Checker, data: dict[str, Any], paradigms: list[str]) -> None:
    """``params:`` and ``grid:`` against the declared parameters of the suite's ``paradigms``."""
    raw = data.get("params")
    for paradigm, params in raw.items() if isinstance(raw, dict) else ():
        kp: tuple[Any, ...] = ("params", paradigm)
        if paradigm not in PARADIGMS:
            c.bad(
                kp,
                f"parameters for unknown paradigm {paradigm!r}; known: {', '.join(PARADIGMS.names())}"
                f"{suggest(paradigm, PARADIGMS.names())}",
            )
            continue
        fields = declared(paradigm)
        if fields is None or not isinstance(params, dict):
            continue
        for key, value in params.items():
            _one(c, kp + (key,), paradigm, fields, key, value)
    grid = data.get("grid")
    gparams = grid.get("params") if isinstance(grid, dict) else None
    for key, values in gparams.items() if isinstance(gparams, dict) else ():
        _grid_param(c, paradigms, key, values)


def _one(c: Checker, kp: tuple[Any, ...], paradigm: str, fields: dict[str, Any], key: Any, value: Any) -> None:
    if key not in fields:
        known = ", ".join(fields) or "none"
        c.bad(kp, f"{paradigm} has no parameter {key!r}; its parameters: {known}{suggest(key, fields)}")
        return
    problem = type_problem(value, fields[key])
    if problem:
        c.bad(kp, f"{paradigm}'s {key}: expected {problem}, got {value!r}")


def _grid_param(c: Checker, paradigms: list[str], key: Any, values: Any) -> None:
    """A grid parameter is a setting, or a parameter some paradigm of the suite declares (and reads)."""
    if key in Settings.names():
        return
    tables = {p: declared(p) for p in dict.fromkeys(paradigms)}
    owners = [p for p, fields in tables.items() if fields is not None and key in fields]
    if not owners:
        if any(fields is None for fields in tables.values()):
            return  # a paradigm that declares nothing may read it
        names = sorted({k for fields in tables.values() for k in fields or {}} | set(Settings.names()))
        c.bad(
            ("grid", "params", key),
            f"grid parameter {key!r} is neither a setting nor a parameter of {', '.join(tables)}{suggest(key, names)}",
        )
        return
    for i, value in enumerate(values if isinstance(values, list) else ()):
        for p in owners:
            problem = type_problem(value, tables[p][key])  # type: ignore[index]
            if problem:
                c.bad(("grid", "params", key, i), f"{p}'s {key}: expected {problem}, got {value!r}")
                break
