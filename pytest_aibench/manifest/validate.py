"""Turn a parsed manifest into a :class:`Suite`, or into every problem it has, each located.

Structure is checked against the shipped JSON Schema (the one documented in the README), then
meaning: names that must exist in a registry, references between sections, gate syntax. Every
problem carries the key path and the line; none stops the search for the others.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from pytest_aibench.registry import DATASETS, METRICS, PARADIGMS, QUANTIZATIONS, SCENARIOS, suggest
from pytest_aibench.manifest.model import DEFAULT_AXES, OPS, STANDARD_AXES, DatasetSpec, Gate, InputSpec, ModelSpec, Settings, Suite
from pytest_aibench.manifest.yamlsafe import LineIndex, Problem

#: marker names pytest or this plugin already use; an axis value may not shadow them
RESERVED_MARKERS = frozenset({"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings",
                              "aibench", "tryfirst", "trylast"})
_GATE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The manifest JSON Schema shipped in the package."""
    return json.loads(resources.files("pytest_aibench.manifest").joinpath("schema.json").read_text())


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # noqa: PLC0415

    return jsonschema.Draft202012Validator(schema())


def _dict(data: dict, key: str) -> dict:
    """``data[key]`` when it is a mapping, else {} (its schema problem is reported elsewhere)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _typename(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def schema_problems(data: Any, index: LineIndex) -> list[Problem]:
    """Every schema violation in ``data`` as a located, human-readable problem."""
    out: list[Problem] = []
    for err in _validator().iter_errors(data):
        path = tuple(err.absolute_path)
        kind = err.validator
        expected = err.schema.get("x-expected") if isinstance(err.schema, dict) else None
        if kind == "additionalProperties" and err.validator_value is False:
            allowed = list(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in allowed:
                    out.append(Problem(index.line_of(path + (key,)), path + (key,),
                                       f"unknown key {key!r}; expected one of: {', '.join(allowed)}{suggest(key, allowed)}"))
            continue
        if kind == "required":
            for key in err.validator_value:
                if isinstance(err.instance, dict) and key not in err.instance:
                    out.append(Problem(index.line_of(path), path, f"missing required key {key!r}"))
            continue
        if kind == "propertyNames":
            bad = err.instance
            out.append(Problem(index.line_of(path), path,
                               f"invalid name {_show(bad)}: expected {expected or 'a valid name'}"))
            continue
        if kind == "type":
            want = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
            what = expected or " or ".join({"object": "a mapping", "array": "a list", "string": "a string",
                                            "integer": "an integer", "number": "a number", "boolean": "a boolean",
                                            "null": "null"}.get(w, w) for w in want)
            msg = f"expected {what}, got {_typename(err.instance)} {_show(err.instance)}"
        elif kind == "enum":
            msg = (f"expected one of {', '.join(map(str, err.validator_value))}, got {_show(err.instance)}"
                   f"{suggest(err.instance, err.validator_value)}")
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
        return f"gate needs a comparison, e.g. \">= {text}\" or \"<= {text}\""
    m = _GATE.match(str(text))
    if not m:
        return f"expected a comparison such as \">= 0.9\" or \"<= 20\" (operators {' '.join(OPS)}), got {_show(text)}"
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


class _Checker:
    """Semantic checks; appends to ``problems`` and builds the Suite parts it can."""

    def __init__(self, path: Path, data: dict, index: LineIndex, runner_known: Callable[[str], bool],
                 runner_names: Callable[[], list[str]] | None = None):
        self.path, self.data, self.index, self.runner_known = path, data, index, runner_known
        self._names = runner_names
        self.problems: list[Problem] = []
        self.broken_axes: set[str] = set()  # axes with a reported bad value: no follow-on errors about them

    def bad(self, keypath: tuple, message: str) -> None:
        self.problems.append(Problem(self.index.line_of(keypath), keypath, message))

    def where(self, keypath: tuple) -> str:
        return f"{self.path}:{self.index.line_of(keypath)}"

    def axis_values(self, keypath: tuple, axis: str, values: list) -> tuple:
        check = {"framework": (self.runner_known, "runner", None),
                 "quantization": (QUANTIZATIONS.__contains__, "quantization", QUANTIZATIONS),
                 "paradigm": (PARADIGMS.__contains__, "paradigm", PARADIGMS),
                 "scenario": (SCENARIOS.__contains__, "scenario", SCENARIOS)}.get(axis)
        for i, v in enumerate(values):
            if check and not (isinstance(v, str) and check[0](v)):
                self.broken_axes.add(axis)
                known = check[2].names() if check[2] is not None else self._runner_names()
                self.bad(keypath + (i,), f"unknown {check[1]} {_show(v)}; known: {', '.join(known)}{suggest(v, known)}")
            token = value_token(axis, v)
            if token in RESERVED_MARKERS:
                self.bad(keypath + (i,), f"{_show(v)} would shadow pytest's {token!r} marker; choose another name")
        return tuple(values)

    def _runner_names(self) -> list[str]:
        if self._names is not None:
            return self._names()
        from pytest_aibench.registry import RUNNERS  # noqa: PLC0415

        return RUNNERS.names()

    def kernel(self, keypath: tuple, spec: Any) -> Any:
        from pytest_aibench.runtimes.kernels import REQUIRED, Kernel  # noqa: PLC0415

        if not isinstance(spec, dict) or spec.get("op") not in REQUIRED or not isinstance(spec.get("shape"), dict):
            return None
        missing = [dim for dim in REQUIRED[spec["op"]] if dim not in spec["shape"]]
        if missing:
            self.bad(keypath + ("shape",), f"a {spec['op']} kernel needs the dimensions {', '.join(REQUIRED[spec['op']])}; "
                     f"missing {', '.join(missing)}")
            return None
        return Kernel(spec["op"], tuple((k, int(v)) for k, v in spec["shape"].items()))

    def inside(self, keypath: tuple, relpath: str, allowed: bool) -> None:
        """Model and data paths stay inside the manifest's folder unless the manifest opts out."""
        folder = self.root.resolve()
        target = (folder / relpath).resolve()
        if not allowed and target != folder and folder not in target.parents:
            self.bad(keypath, f"path {relpath!r} leaves the suite's folder {self.path.parent}; set "
                     "'allow_outside_paths: true' at the top level if that is intended")

    def regressions(self, keypath: tuple, raw: dict | None) -> tuple[Any, ...]:
        from pytest_aibench.judge.compare import RuleError, parse_rules  # noqa: PLC0415
        from pytest_aibench.judge.metrics import known_metric_names  # noqa: PLC0415

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
                self.bad(kp, f"gate on unknown metric {metric!r}; this suite measures: {', '.join(sorted(metric_names))}"
                         f"{suggest(metric, metric_names)}")
                continue
            gate = parse_gate(metric, text, self.where(kp))
            if isinstance(gate, str):
                self.bad(kp, gate)
            else:
                out.append(gate)
        return tuple(out)


def build_suite(path: Path, data: Any, index: LineIndex, raw: bytes, runner_known: Callable[[str], bool],
                display: Path | None = None,
                runner_names: Callable[[], list[str]] | None = None) -> tuple[Suite | None, list[Problem]]:
    """Validate ``data`` (from ``path``, shown as ``display``); return the Suite, or None and every
    problem found."""
    import hashlib  # noqa: PLC0415

    if not isinstance(data, dict):
        return None, [Problem(index.line_of(()), (),
                              f"expected a mapping at the top level (suite:, version:, datasets:, models:), "
                              f"got {_typename(data)}")]
    problems = schema_problems(data, index)
    c = _Checker(display or path, data, index, runner_known, runner_names)
    c.root = path.parent

    # metric groups first: gates are checked against what they provide
    from pytest_aibench.judge.metrics import default_groups  # noqa: PLC0415

    metric_groups = data.get("metrics") if isinstance(data.get("metrics"), list) else list(default_groups())
    provided: set[str] = set()
    for i, name in enumerate(metric_groups):
        if not isinstance(name, str):
            continue
        if name not in METRICS:
            c.bad(("metrics", i), f"unknown metric group {name!r}; known: {', '.join(METRICS.names())}{suggest(name, METRICS.names())}")
            continue
        provided |= set(METRICS.get(name).provides)

    def model_groups(kp: tuple, spec: dict) -> tuple[tuple[str, ...], set[str]]:
        """A model's own extra metric groups (retrieval for a re-ID model) and all it can gate on."""
        own = [g for g in spec.get("metrics") or [] if isinstance(g, str)] if isinstance(spec.get("metrics"), list) else []
        extra = set()
        for i, name in enumerate(own):
            if name not in METRICS:
                c.bad(kp + ("metrics", i), f"unknown metric group {name!r}; known: {', '.join(METRICS.names())}"
                      f"{suggest(name, METRICS.names())}")
            else:
                extra |= set(METRICS.get(name).provides)
        return tuple(g for g in own if g in METRICS and g not in metric_groups), provided | extra

    datasets: dict[str, DatasetSpec] = {}
    allow_outside = data.get("allow_outside_paths") is True
    for name, spec in _dict(data, "datasets").items():
        if not isinstance(spec, dict) or not isinstance(spec.get("source"), str):
            continue
        kp = ("datasets", name)
        if isinstance(spec.get("path"), str):
            c.inside(kp + ("path",), spec["path"], allow_outside)
        if spec["source"] not in DATASETS:
            c.bad(kp + ("source",), f"unknown dataset source {spec['source']!r}; known: {', '.join(DATASETS.names())}"
                  f"{suggest(spec['source'], DATASETS.names())}")
            continue
        source = DATASETS.get(spec["source"])
        if getattr(source, "needs_path", False) and not spec.get("path"):
            c.bad(kp, f"dataset source {spec['source']!r} needs 'path:' (a file relative to the manifest)")
        datasets[name] = DatasetSpec(
            name=name, source=spec["source"],
            path=(path.parent / spec["path"]) if isinstance(spec.get("path"), str) else None,
            sha256=spec.get("sha256"), eval_fraction=float(spec.get("eval_fraction", 0.25)),
            split_seed=int(spec.get("split_seed", 0)) if isinstance(spec.get("split_seed", 0), int) else 0,
            params=dict(spec.get("params") or {}))

    # axes: standard ones (plural keys) then extra named axes
    axes: list[tuple[str, tuple]] = []
    for singular, plural in STANDARD_AXES:
        if singular not in DEFAULT_AXES and plural not in data and not any(
                isinstance(m, dict) and plural in m for m in _dict(data, "models").values()):
            continue  # an optional axis (scenario) the manifest does not use
        values = data.get(plural, DEFAULT_AXES.get(singular))
        if singular == "topology" and isinstance(values, dict):
            values = list(values)  # the axis is the topologies' names
        if values is None:
            if not all(isinstance(m, dict) and m.get(plural) for m in _dict(data, "models").values()):
                c.bad((), f"missing {plural!r}: list the runtimes to run on, e.g. {plural}: [torch, onnxruntime] "
                      "(at the top level or in every model)")
            values = []
        if isinstance(values, list):
            axes.append((singular, c.axis_values((plural,), singular, values)))
    extra = _dict(data, "axes")
    standard_names = {s for s, _ in STANDARD_AXES} | {p for _, p in STANDARD_AXES} | {"model", "models"}
    for name, values in extra.items():
        if name in standard_names:
            plural = dict(STANDARD_AXES).get(name.rstrip("s"), name)
            c.bad(("axes", name), f"{name!r} is a standard axis: write it at the top level as '{plural}:'")
            continue
        if isinstance(values, list):
            axes.append((name, c.axis_values(("axes", name), name, values)))
    axis_names = [a for a, _ in axes]

    suite_gates = c.gates(("gates",), _dict(data, "gates"), provided)
    suite_regressions = c.regressions(("regressions",), _dict(data, "regressions"))

    models: dict[str, ModelSpec] = {}
    for name, spec in _dict(data, "models").items():
        if not isinstance(spec, dict):
            continue
        kp = ("models", name)
        has_zoo, has_file, has_kernel = "zoo" in spec, "file" in spec, "kernel" in spec
        if has_zoo + has_file + has_kernel != 1:
            c.bad(kp, "a model needs exactly one of 'zoo:' (a built zoo model), 'file:' (a model file) or "
                  "'kernel:' (an operation on fixed shapes)")
        kernel = c.kernel(kp + ("kernel",), spec.get("kernel")) if has_kernel else None
        if "factory" in spec and not has_file:
            c.bad(kp, "'factory:' builds an architecture: give its weights as 'file:' (a state dict) with 'sha256:'")
        if has_file and "sha256" not in spec:
            c.bad(kp, "a model 'file:' needs its 'sha256:' (run: sha256sum FILE)")
        ds = spec.get("dataset")
        if ds is None and not has_kernel:
            if len(datasets) == 1:
                ds = next(iter(datasets))
            elif datasets:
                c.bad(kp, f"model needs 'dataset:' (the suite defines {len(datasets)}: {', '.join(datasets)})")
            elif "datasets" not in data:
                c.bad(kp, "model needs a dataset to be evaluated on: add a 'datasets:' section")
        elif isinstance(ds, str) and ds not in _dict(data, "datasets"):
            defined = _dict(data, "datasets")
            c.bad(kp + ("dataset",), f"unknown dataset {ds!r}; defined: {', '.join(defined) or 'none'}{suggest(ds, defined)}")
        own_metrics, model_provided = model_groups(kp, spec)
        model_axes = {}
        for singular, plural in STANDARD_AXES:
            if isinstance(spec.get(plural), list):
                model_axes[singular] = c.axis_values(kp + (plural,), singular, spec[plural])
        defined_topologies = _dict(data, "topologies")
        for i, t in enumerate(model_axes.get("topology", ())):
            if t not in defined_topologies:
                c.bad(kp + ("topologies", i), f"unknown topology {_show(t)}; the suite's topologies: "
                      f"{', '.join(defined_topologies) or 'none'}{suggest(t, defined_topologies)}")
        inp = spec.get("input")
        if isinstance(spec.get("file"), str):
            c.inside(kp + ("file",), spec["file"], allow_outside)
        models[name] = ModelSpec(
            name=name, dataset=ds if isinstance(ds, str) else "", zoo=spec.get("zoo"),
            file=(path.parent / spec["file"]) if isinstance(spec.get("file"), str) else None,
            factory=spec.get("factory") if isinstance(spec.get("factory"), str) else None,
            kernel=kernel,
            sha256=spec.get("sha256"),
            input=InputSpec(shape=tuple(inp["shape"]), name=inp.get("name"), layout=inp.get("layout", "NCHW"),
                            dtype=inp.get("dtype", "float32"), scale=inp.get("scale"), mean=inp.get("mean"),
                            std=inp.get("std")) if isinstance(inp, dict) and isinstance(inp.get("shape"), list) else None,
            axes=model_axes,
            gates=c.gates(kp + ("gates",), _dict(spec, "gates"), model_provided), metrics=own_metrics,
            regressions=c.regressions(kp + ("regressions",), _dict(spec, "regressions")),
            settings=dict(spec.get("settings") or {}) if isinstance(spec.get("settings"), dict) else {},
            line=index.line_of(kp))

    matrix = _dict(data, "matrix")
    axis_values = dict(axes)
    for kind in ("exclude", "include"):
        rules = matrix.get(kind)
        for i, rule in enumerate(rules if isinstance(rules, list) else []):
            if not isinstance(rule, dict):
                continue
            for key, value in rule.items():
                kp = ("matrix", kind, i, key)
                if key == "model":
                    if models and value not in models:
                        c.bad(kp, f"unknown model {_show(value)}; defined: {', '.join(models)}{suggest(value, models)}")
                elif key in axis_values:
                    if kind == "exclude" and key not in c.broken_axes and value not in axis_values[key] and not any(
                            value in m.axes.get(key, ()) for m in models.values()):
                        c.bad(kp, f"{_show(value)} is not a value of axis {key!r} ({', '.join(map(str, axis_values[key]))})"
                              f"{suggest(value, axis_values[key])}")
                    elif kind == "include" and key in ("framework", "quantization", "paradigm"):
                        c.axis_values(kp[:-1], key, [value])
                elif key in {p for _, p in STANDARD_AXES} | {"models"}:
                    c.bad(kp, f"matrix rules use singular axis names: {key[:-1]!r}, not {key!r}")
                elif kind == "exclude":
                    names = ["model", *axis_names]
                    c.bad(kp, f"exclude rule names {key!r}, which is not an axis; axes: {', '.join(names)}{suggest(key, names)}")

    topologies = _topologies(c, data)
    grid = _grid(c, data)
    profiles = {k: dict(v) for k, v in _dict(data, "profiles").items() if isinstance(v, dict)}
    default_profile = data.get("default_profile")
    if isinstance(default_profile, str) and default_profile not in profiles:
        c.bad(("default_profile",), f"default_profile {default_profile!r} is not among the profiles "
              f"({', '.join(profiles) or 'none defined'}){suggest(default_profile, profiles)}")

    problems += c.problems
    if problems:
        return None, sorted(problems, key=lambda p: (p.line or 0, str(p.path)))
    suite = Suite(
        name=data["suite"], version=data["version"], path=path, sha256=hashlib.sha256(raw).hexdigest(),
        datasets=datasets, models=models, axes=tuple(axes),
        include=tuple(matrix.get("include") or ()), exclude=tuple(matrix.get("exclude") or ()),
        metrics=tuple(n for n in metric_groups if isinstance(n, str)), gates=suite_gates,
        regressions=suite_regressions,
        settings=dict(data.get("settings") or {}), profiles=profiles,
        default_profile=default_profile if isinstance(default_profile, str) else ("quick" if "quick" in profiles else None),
        description=data.get("description", ""), lines=index,
        timeout=float(data["timeout"]) if isinstance(data.get("timeout"), (int, float)) else None,
        allow_outside_paths=allow_outside, topologies=topologies, grid=grid,
        cluster=data.get("cluster") if isinstance(data.get("cluster"), str) else None,
        params={k: dict(v) for k, v in _dict(data, "params").items() if isinstance(v, dict)})
    return suite, []


def _topologies(c: _Checker, data: dict) -> dict[str, Any]:
    from pytest_aibench.sim.node import PROFILES  # noqa: PLC0415
    from pytest_aibench.sim.topology import topology_from  # noqa: PLC0415

    custom = {k: v for k, v in _dict(data, "nodes").items() if isinstance(v, dict)}
    for name, spec in custom.items():
        base = spec.get("profile", "rpi4")
        if isinstance(base, str) and base not in PROFILES:
            c.bad(("nodes", name, "profile"), f"unknown node profile {base!r}; built in: {', '.join(PROFILES)}"
                  f"{suggest(base, PROFILES)}")
    known = list(PROFILES) + list(custom)
    out: dict[str, Any] = {}
    for name, spec in _dict(data, "topologies").items():
        if not isinstance(spec, dict):
            continue
        ok = True
        for role in ("edge", "cloud"):
            place = spec.get(role)
            ref = place.get("profile", "rpi4") if isinstance(place, dict) else place
            if isinstance(ref, str) and ref not in known:
                c.bad(("topologies", name, role), f"unknown node {ref!r}; built in: {', '.join(PROFILES)}; "
                      f"defined in nodes: {', '.join(custom) or 'none'}{suggest(ref, known)}")
                ok = False
        if ok:
            try:
                out[name] = topology_from(name, spec, custom)
            except (KeyError, TypeError, ValueError) as exc:
                c.bad(("topologies", name), f"invalid topology: {exc}")
    return out


def _grid(c: _Checker, data: dict) -> tuple[dict[str, Any], ...]:
    """The grid's points: the product of its params minus excluded points, or a seeded sample of them."""
    from itertools import product  # noqa: PLC0415

    grid = _dict(data, "grid")
    params = _dict(grid, "params")
    if not params or not all(isinstance(v, list) and v for v in params.values()):
        return ()
    names = list(params)
    points = [dict(zip(names, combo)) for combo in product(*(params[n] for n in names))]
    rules = [r for r in grid.get("exclude") or [] if isinstance(r, dict)]
    for i, rule in enumerate(rules):
        unknown = [k for k in rule if k not in names]
        if unknown:
            c.bad(("grid", "exclude", i), f"names {', '.join(unknown)}, not a grid parameter ({', '.join(names)})")
    points = [p for p in points if not any(all(p.get(k) == v for k, v in r.items()) for r in rules)]
    sample = _dict(grid, "sample")
    if isinstance(sample.get("n"), int) and sample["n"] < len(points):
        import random  # noqa: PLC0415

        rng = random.Random(int(sample.get("seed", 0)))
        picked = sorted(rng.sample(range(len(points)), sample["n"]))
        points = [points[i] for i in picked]
    if not points:
        c.bad(("grid",), "every grid point is excluded: nothing to run")
    return tuple(points)


__all__ = ["build_suite", "parse_gate", "schema", "schema_problems", "value_token", "Settings"]
