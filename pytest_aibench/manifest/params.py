"""Paradigm parameters, grid points, stage code and seed keys. Parameters are held to what each paradigm declares (its frozen ``Params`` dataclass): ``params:``
names a known paradigm and only its parameters, each value of the declared type; a ``grid:`` parameter is
a setting or a parameter of a paradigm the suite runs, each of its values typed the same way. Every
problem names file:line:key, what was expected and, where a name is close, the one meant."""

from __future__ import annotations

import dataclasses
import random
import types
import typing
from itertools import product
from typing import Any

from pytest_aibench.core.model import Settings
from pytest_aibench.manifest.checker import Checker, _dict, _show
from pytest_aibench.paradigms import PARADIGMS, params_of
from pytest_aibench.registry import suggest
from pytest_aibench.usercode import STAGE_KEYS, is_code


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


def _paradigms(spec: Any, data: dict) -> list[str]:
    """The paradigms a model (or the suite, given as ``spec``) runs: its own list, else the suite's, else single."""
    for source in (spec, data):
        values = source.get("paradigms") if isinstance(source, dict) else None
        if isinstance(values, list):
            return [v for v in values if isinstance(v, str)]
    return ["single"]


def _grid(c: Checker, data: dict) -> tuple[dict[str, Any], ...]:
    """The grid's points: the product of its params minus excluded points, or a seeded sample of them."""

    grid = _dict(data, "grid")
    params = _dict(grid, "params")
    if not params or not all(isinstance(v, list) and v for v in params.values()):
        return ()
    names = list(params)
    points = [dict(zip(names, combo, strict=True)) for combo in product(*(params[n] for n in names))]
    rules = [r for r in grid.get("exclude") or [] if isinstance(r, dict)]
    for i, rule in enumerate(rules):
        unknown = [k for k in rule if k not in names]
        if unknown:
            c.bad(("grid", "exclude", i), f"names {', '.join(unknown)}, not a grid parameter ({', '.join(names)})")
    points = [p for p in points if not any(all(p.get(k) == v for k, v in r.items()) for r in rules)]
    sample = _dict(grid, "sample")
    if isinstance(sample.get("n"), int) and sample["n"] < len(points):
        rng = random.Random(int(sample.get("seed", 0)))
        picked = sorted(rng.sample(range(len(points)), sample["n"]))
        points = [points[i] for i in picked]
    if not points:
        c.bad(("grid",), "every grid point is excluded: nothing to run")
    return tuple(points)


def _stages(c: Checker, data: dict) -> None:
    """A stage given as ``module:callable`` follows the ``factory:`` rule (the suite's own files only),
    by every route a paradigm's params take: ``params.<paradigm>``, ``grid.params``, ``matrix.include``
    variables and extra ``axes`` values."""
    routes: list[tuple[tuple[Any, ...], Any]] = []
    for paradigm, params in _dict(data, "params").items():
        for key, value in params.items() if isinstance(params, dict) else ():
            routes.append((("params", paradigm, key), value))
    for key, values in _dict(_dict(data, "grid"), "params").items():
        routes += [(("grid", "params", key, i), v) for i, v in enumerate(values if isinstance(values, list) else ())]
    for key, values in _dict(data, "axes").items():
        routes += [(("axes", key, i), v) for i, v in enumerate(values if isinstance(values, list) else ())]
    include = _dict(data, "matrix").get("include")
    for i, rule in enumerate(include if isinstance(include, list) else ()):
        routes += [(("matrix", "include", i, key), v) for key, v in (rule.items() if isinstance(rule, dict) else ())]
    for kp, value in routes:
        if kp[-1 if kp[0] != "grid" and kp[0] != "axes" else -2] in STAGE_KEYS and is_code(value):
            c.factory(kp, value, _trusted(data), "stage")


def _seed_from(c: Checker, data: dict, axes: list[tuple[str, tuple[Any, ...]]]) -> tuple[str, ...]:
    """``seed_from:``: the axes (or include/grid variables) that should give compared items their own
    random numbers; by default none does (common random numbers)."""
    raw = data.get("seed_from")
    names = [n for n, _ in axes]
    variables = set(_dict(_dict(data, "grid"), "params"))
    include = _dict(data, "matrix").get("include")
    for rule in include if isinstance(include, list) else ():
        variables |= set(rule) if isinstance(rule, dict) else set()
    known = names + sorted(variables - set(names) - {"model"})
    out = []
    for i, name in enumerate(raw if isinstance(raw, list) else ()):
        if name not in known:
            c.bad(
                ("seed_from", i),
                f"{_show(name)} is not an axis or variable of this suite; known: {', '.join(known)}"
                f"{suggest(str(name), known)}",
            )
        else:
            out.append(str(name))
    return tuple(out)


def _trusted(data: dict) -> tuple[str, ...]:
    raw = data.get("trusted_modules")
    return tuple(m for m in raw if isinstance(m, str)) if isinstance(raw, list) else ()
