"""Checks shared by the manifest's sections: the JSON Schema pass (structure, with located,
human-readable messages) and the :class:`Checker` that records semantic problems (names that must
exist in a registry, paths that must stay inside the suite's folder, gates and rules that must parse)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from functools import lru_cache
from importlib import resources, util
from pathlib import Path
from typing import Any

from pytest_aibench._lazy import lazy
from pytest_aibench.core.lines import LineIndex, Problem
from pytest_aibench.core.model import (
    OPS,
    Gate,
)
from pytest_aibench.files import cache_root
from pytest_aibench.judge.catalogue import known_metric_names
from pytest_aibench.judge.compare import RuleError, parse_rules
from pytest_aibench.measure.loadgen import SCENARIOS
from pytest_aibench.paradigms import PARADIGMS
from pytest_aibench.quantization import QUANTIZATIONS
from pytest_aibench.registry import suggest
from pytest_aibench.runtimes import RUNNERS
from pytest_aibench.runtimes.kernels import REQUIRED, Kernel
from pytest_aibench.usercode import factory_file, refusal

jsonschema = lazy("jsonschema")  # imported only to validate a manifest not already known valid

#: marker names pytest or this plugin already use; an axis value may not shadow them
RESERVED_MARKERS = frozenset(
    {"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings", "aibench", "tryfirst", "trylast"}
)
_GATE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The manifest JSON Schema shipped in the package."""
    return json.loads(resources.files("pytest_aibench.manifest").joinpath("schema.json").read_text())


@lru_cache(maxsize=1)
def _validator() -> Any:

    return jsonschema.Draft202012Validator(schema())


def _dict(data: dict, key: str) -> dict:
    """``data[key]`` when it is a mapping, else {} (its schema problem is reported elsewhere)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _typename(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@lru_cache(maxsize=1)
def _validating_with() -> bytes:
    """What validation depends on besides the manifest: the schema's text and the jsonschema installed
    (its file's path, size and mtime: a metadata lookup would cost what this saves). Once a process, as
    :func:`schema` and :func:`_validator` are."""
    spec = util.find_spec("jsonschema")
    st = os.stat(spec.origin) if spec and spec.origin else None
    found = f"{spec and spec.origin}:{st and st.st_size}:{st and st.st_mtime_ns}"
    return json.dumps(schema(), sort_keys=True).encode() + found.encode()


def _verdict(raw: bytes) -> Path:
    """Where a manifest whose bytes are ``raw`` is recorded as schema-valid: named by the digest of those
    bytes and of :func:`_validating_with`, so any change to one of them validates again."""
    h = hashlib.sha256(raw)
    h.update(_validating_with())
    return cache_root().parent / "schema-valid" / h.hexdigest()


def schema_problems(data: Any, index: LineIndex, raw: bytes | None = None) -> list[Problem]:
    """Every schema violation in ``data`` as a located, human-readable problem.

    Given the manifest's bytes, a manifest validated clean before is not validated again (nor is
    jsonschema imported: a third of what a 10,000-item manifest adds to collection); only a clean
    verdict is remembered, so every problem is still found and reported each time."""
    verdict = _verdict(raw) if raw is not None else None
    if verdict is not None and verdict.exists():
        return []
    out = _problems(data, index)
    if verdict is not None and not out:
        try:  # best effort: a read-only cache only costs the next run the validation
            verdict.parent.mkdir(parents=True, exist_ok=True)
            tmp = verdict.with_name(f"{verdict.name}.{os.getpid()}")
            tmp.write_bytes(b"")
            tmp.replace(verdict)
        except OSError:
            pass
    return out


def _problems(data: Any, index: LineIndex) -> list[Problem]:
    out: list[Problem] = []
    for err in _validator().iter_errors(data):
        path = tuple(err.absolute_path)
        kind = err.validator
        expected = err.schema.get("x-expected") if isinstance(err.schema, dict) else None
        if kind == "additionalProperties" and err.validator_value is False:
            allowed = list(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in allowed:
                    out.append(
                        Problem(
                            index.line_of(path + (key,)),
                            path + (key,),
                            f"unknown key {key!r}; expected one of: {', '.join(allowed)}{suggest(key, allowed)}",
                        )
                    )
            continue
        if kind == "required":
            for key in err.validator_value:
                if isinstance(err.instance, dict) and key not in err.instance:
                    out.append(Problem(index.line_of(path), path, f"missing required key {key!r}"))
            continue
        if kind == "propertyNames":
            bad = err.instance
            out.append(
                Problem(index.line_of(path), path, f"invalid name {_show(bad)}: expected {expected or 'a valid name'}")
            )
            continue
        if kind == "type":
            want = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
            what = expected or " or ".join(
                {
                    "object": "a mapping",
                    "array": "a list",
                    "string": "a string",
                    "integer": "an integer",
                    "number": "a number",
                    "boolean": "a boolean",
                    "null": "null",
                }.get(w, str(w))
                for w in want
            )
            msg = f"expected {what}, got {_typename(err.instance)} {_show(err.instance)}"
        elif kind == "enum":
            msg = (
                f"expected one of {', '.join(map(str, err.validator_value))}, got {_show(err.instance)}"
                f"{suggest(err.instance, err.validator_value)}"
            )
        elif kind in ("minProperties", "minItems"):
            msg = f"must not be empty (expected {expected or 'at least one entry'})"
        elif kind == "uniqueItems":
            msg = "values must be distinct"
        elif kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
            sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
            msg = f"expected a number {sign} {err.validator_value}, got {_show(err.instance)}"
        else:
            msg = f"expected {expected}, got {_show(err.instance)}" if expected else err.message
        out.append(Problem(index.line_of(path), path, msg))
    return out


def parse_gate(metric: str, text: Any, where: str) -> Gate | str:
    """A :class:`Gate`, or the reason ``text`` is not one."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return f'gate needs a comparison, e.g. ">= {text}" or "<= {text}"'
    m = _GATE.match(str(text))
    if not m:
        return f'expected a comparison such as ">= 0.9" or "<= 20" (operators {" ".join(OPS)}), got {_show(text)}'
    return Gate(metric, m.group(1), float(m.group(2)), where)


def value_token(axis: str, value: Any) -> str:
    """How an axis value appears in item ids and marker names."""
    if isinstance(value, str) and axis in ("framework", "quantization", "paradigm", "scenario", "model"):
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return f"{axis}_{str(value).lower()}"
    return f"{axis}_{value}"


class Checker:
    """Semantic checks; appends to ``problems`` and builds the Suite parts it can."""

    def __init__(
        self,
        path: Path,
        data: dict,
        index: LineIndex,
        runner_known: Callable[[str], bool],
        runner_names: Callable[[], list[str]] | None = None,
    ):
        self.path, self.data, self.index, self.runner_known = path, data, index, runner_known
        self._names = runner_names
        self.root: Path = path.parent
        self.code = True  # False: no module:callable may be named at all (a bundle's manifest)
        self.problems: list[Problem] = []
        self.broken_axes: set[str] = set()  # axes with a reported bad value: no follow-on errors about them

    def bad(self, keypath: tuple, message: str) -> None:
        self.problems.append(Problem(self.index.line_of(keypath), keypath, message))

    def where(self, keypath: tuple) -> str:
        return f"{self.path}:{self.index.line_of(keypath)}"

    def axis_values(self, keypath: tuple, axis: str, values: list, single: bool = False) -> tuple:
        """Each value of ``axis`` known; problems at ``keypath + (i,)`` (``single``: at ``keypath``
        itself, a matrix rule's one value)."""
        check = {
            "framework": (self.runner_known, "runner", None),
            "quantization": (QUANTIZATIONS.__contains__, "quantization", QUANTIZATIONS),
            "paradigm": (PARADIGMS.__contains__, "paradigm", PARADIGMS),
            "scenario": (SCENARIOS.__contains__, "scenario", SCENARIOS),
        }.get(axis)
        for i, v in enumerate(values):
            if v is None and axis == "scenario":  # the models that list no scenarios: the built-in loops
                continue
            if check and not (isinstance(v, str) and check[0](v)):
                self.broken_axes.add(axis)
                known = check[2].names() if check[2] is not None else self._runner_names()
                self.bad(
                    keypath if single else keypath + (i,),
                    f"unknown {check[1]} {_show(v)}; known: {', '.join(known)}{suggest(v, known)}",
                )
            token = value_token(axis, v)
            if token in RESERVED_MARKERS:
                self.bad(
                    keypath if single else keypath + (i,),
                    f"{_show(v)} would shadow pytest's {token!r} marker; choose another name",
                )
        return tuple(values)

    def _runner_names(self) -> list[str]:
        if self._names is not None:
            return self._names()

        return RUNNERS.names()

    def kernel(self, keypath: tuple, spec: Any) -> Any:

        if not isinstance(spec, dict) or spec.get("op") not in REQUIRED or not isinstance(spec.get("shape"), dict):
            return None
        missing = [dim for dim in REQUIRED[spec["op"]] if dim not in spec["shape"]]
        if missing:
            self.bad(
                keypath + ("shape",),
                f"a {spec['op']} kernel needs the dimensions {', '.join(REQUIRED[spec['op']])}; "
                f"missing {', '.join(missing)}",
            )
            return None
        return Kernel(spec["op"], tuple((k, int(v)) for k, v in spec["shape"].items()))

    def inside(self, keypath: tuple, relpath: str, allowed: bool) -> None:
        """Model and data paths stay inside the manifest's folder unless the manifest opts out."""
        folder = self.root.resolve()
        target = (folder / relpath).resolve()
        if not allowed and target != folder and folder not in target.parents:
            self.bad(
                keypath,
                f"path {relpath!r} leaves the suite's folder {self.path.parent}; set "
                "'allow_outside_paths: true' at the top level if that is intended",
            )

    def factory(self, keypath: tuple, factory: str, trusted: tuple[str, ...], what: str = "factory") -> None:
        """``factory:`` and stages import the manifest's own code only (:mod:`pytest_aibench.usercode`)."""
        why = refusal(factory, self.root, trusted, what, self.code)
        if why is not None:
            self.bad(keypath, why.replace(str(self.root), str(self.path.parent), 1))

    def regressions(self, keypath: tuple, raw: dict | None) -> tuple[Any, ...]:

        out: list[Any] = []
        for metric, change in (raw or {}).items():
            try:
                out += parse_rules(f"{metric}:{change}", known_metric_names())
            except RuleError as exc:
                self.bad(keypath + (metric,), str(exc))
        return tuple(out)

    def gates(self, keypath: tuple, raw: dict | None, metric_names: set[str]) -> tuple[Gate, ...]:
        out = []
        for metric, text in (raw or {}).items():
            kp = keypath + (metric,)
            if metric_names and metric not in metric_names:
                self.bad(
                    kp,
                    f"gate on unknown metric {metric!r}; this suite measures: {', '.join(sorted(metric_names))}"
                    f"{suggest(metric, metric_names)}",
                )
                continue
            gate = parse_gate(metric, text, self.where(kp))
            if isinstance(gate, str):
                self.bad(kp, gate)
            else:
                out.append(gate)
        return tuple(out)


__all__ = ["Checker", "factory_file", "parse_gate", "schema", "schema_problems", "value_token"]
