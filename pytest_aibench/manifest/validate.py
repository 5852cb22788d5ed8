"""Turn a parsed manifest into a :class:`Suite`, or into every problem it has, each located.

Structure is checked against the shipped JSON Schema (the one documented in the README), then
meaning, one manifest section at a time: names that must exist in a registry, references between
sections, gate syntax. Every problem carries the key path and the line; none stops the search for
the others.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_aibench.core.lines import LineIndex, Problem
from pytest_aibench.core.model import (
    DEFAULT_AXES,
    STANDARD_AXES,
    DatasetSpec,
    ModelSpec,
    Settings,
    Suite,
)
from pytest_aibench.data import DATASETS
from pytest_aibench.judge.catalogue import paradigm_metrics
from pytest_aibench.judge.metrics import METRICS, default_groups
from pytest_aibench.manifest import params as paradigm_params
from pytest_aibench.manifest import platform
from pytest_aibench.manifest.checker import (
    Checker,
    _dict,
    _show,
    _typename,
    parse_gate,
    schema,
    schema_problems,
    value_token,
)
from pytest_aibench.manifest.inputs import _input, _preprocess
from pytest_aibench.manifest.params import _grid, _paradigms, _seed_from, _stages, _trusted
from pytest_aibench.registry import suggest
from pytest_aibench.sim.node import PROFILES
from pytest_aibench.sim.topology import topology_from
from pytest_aibench.tasks import TASKS, catalogue_entries


def build_suite(
    path: Path,
    data: Any,
    index: LineIndex,
    raw: bytes,
    runner_known: Callable[[str], bool],
    display: Path | None = None,
    runner_names: Callable[[], list[str]] | None = None,
    code: bool = True,
) -> tuple[Suite | None, list[Problem]]:
    """Validate ``data`` (from ``path``, shown as ``display``); return the Suite, or None and every
    problem found. ``code=False`` refuses every ``module:callable`` (a bundle's manifest carries none)."""
    if not isinstance(data, dict):
        return None, [
            Problem(
                index.line_of(()),
                (),
                f"expected a mapping at the top level (suite:, version:, datasets:, models:), got {_typename(data)}",
            )
        ]
    problems = schema_problems(data, index, raw)
    c = Checker(display or path, data, index, runner_known, runner_names)
    c.root, c.code = path.parent, code
    groups, provided = _metric_groups(c, data)  # first: gates are checked against what they provide
    runs = _paradigms(data, {}) + [p for m in _dict(data, "models").values() for p in _paradigms(m, data)]
    provided |= paradigm_metrics(runs) | set(catalogue_entries())  # any model may be judged by any task
    paradigm_params.check(c, data, runs)
    allow_outside = data.get("allow_outside_paths") is True
    datasets = _datasets(c, data, path, allow_outside)
    axes = _axes(c, data)
    models = {
        name: _model(c, data, path, name, spec, datasets, groups, provided, allow_outside)
        for name, spec in _dict(data, "models").items()
        if isinstance(spec, dict)
    }
    _matrix(c, _dict(data, "matrix"), dict(axes), models)
    topologies, grid = _topologies(c, data), _grid(c, data)
    profiles, default_profile = _profiles(c, data)
    _thread_bounds(c, data)
    platform.check(c, data)
    _stages(c, data)
    _finite(c, data, ())
    seed_from = _seed_from(c, data, axes)
    suite_gates = c.gates(("gates",), _dict(data, "gates"), provided)
    suite_regressions = c.regressions(("regressions",), _dict(data, "regressions"))
    problems += c.problems
    if problems:
        return None, sorted(problems, key=lambda p: (p.line or 0, str(p.path)))
    matrix = _dict(data, "matrix")
    return Suite(
        name=data["suite"],
        version=data["version"],
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        datasets=datasets,
        models=models,
        axes=tuple(axes),
        include=tuple(matrix.get("include") or ()),
        exclude=tuple(matrix.get("exclude") or ()),
        metrics=tuple(n for n in groups if isinstance(n, str)),
        gates=suite_gates,
        regressions=suite_regressions,
        settings=dict(data.get("settings") or {}),
        profiles=profiles,
        default_profile=default_profile,
        description=data.get("description", ""),
        lines=index,
        timeout=float(data["timeout"]) if isinstance(data.get("timeout"), (int, float)) else None,
        allow_outside_paths=allow_outside,
        trusted_modules=_trusted(data),
        seed_from=seed_from,
        max_items=_max_items(data),
        topologies=topologies,
        grid=grid,
        cluster=data.get("cluster") if isinstance(data.get("cluster"), str) else None,
        params={k: dict(v) for k, v in _dict(data, "params").items() if isinstance(v, dict)},
    ), []


def _metric_groups(c: Checker, data: dict) -> tuple[list[Any], set[str]]:
    """The suite's metric groups (the defaults when it names none) and every metric they provide."""
    groups: list[Any] = data["metrics"] if isinstance(data.get("metrics"), list) else list(default_groups())
    provided: set[str] = set()
    for i, name in enumerate(groups):
        if not isinstance(name, str):
            continue
        if name not in METRICS:
            c.bad(
                ("metrics", i),
                f"unknown metric group {name!r}; known: {', '.join(METRICS.names())}{suggest(name, METRICS.names())}",
            )
            continue
        provided |= set(METRICS.get(name).provides)
    return groups, provided


def _model_groups(
    c: Checker, kp: tuple, spec: dict, groups: list[Any], provided: set[str]
) -> tuple[tuple[str, ...], set[str]]:
    """A model's own extra metric groups (retrieval for a re-ID model) and all it can gate on."""
    own = [g for g in spec.get("metrics") or [] if isinstance(g, str)] if isinstance(spec.get("metrics"), list) else []
    extra: set[str] = set()
    for i, name in enumerate(own):
        if name not in METRICS:
            c.bad(
                kp + ("metrics", i),
                f"unknown metric group {name!r}; known: {', '.join(METRICS.names())}{suggest(name, METRICS.names())}",
            )
        else:
            extra |= set(METRICS.get(name).provides)
    return tuple(g for g in own if g in METRICS and g not in groups), provided | extra


def _datasets(c: Checker, data: dict, path: Path, allow_outside: bool) -> dict[str, DatasetSpec]:
    datasets: dict[str, DatasetSpec] = {}
    for name, spec in _dict(data, "datasets").items():
        if not isinstance(spec, dict) or not isinstance(spec.get("source"), str):
            continue
        kp: tuple[Any, ...] = ("datasets", name)
        if isinstance(spec.get("path"), str):
            c.inside(kp + ("path",), spec["path"], allow_outside)
            labels = _dict(spec, "params").get("labels")
            if isinstance(labels, str):
                c.inside(kp + ("params", "labels"), str(Path(spec["path"]) / labels), allow_outside)
        if spec["source"] not in DATASETS:
            c.bad(
                kp + ("source",),
                f"unknown dataset source {spec['source']!r}; known: {', '.join(DATASETS.names())}"
                f"{suggest(spec['source'], DATASETS.names())}",
            )
            continue
        if getattr(DATASETS.get(spec["source"]), "needs_path", False) and not spec.get("path"):
            c.bad(kp, f"dataset source {spec['source']!r} needs 'path:' (a file relative to the manifest)")
        _task(c, kp, spec)
        datasets[name] = DatasetSpec(
            name=name,
            task=spec["task"] if isinstance(spec.get("task"), str) else None,
            source=spec["source"],
            path=(path.parent / spec["path"]) if isinstance(spec.get("path"), str) else None,
            sha256=spec.get("sha256"),
            eval_fraction=float(spec.get("eval_fraction", 0.25)),
            split_seed=int(spec.get("split_seed", 0)) if isinstance(spec.get("split_seed", 0), int) else 0,
            params=dict(spec.get("params") or {}),
            confine=None if allow_outside else path.parent.resolve(),
        )
    return datasets


def _output(value: Any) -> str | int | tuple[str | int, ...] | None:
    """``output:``: one output (a name or an index), or several (a list) a task decodes together."""
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return tuple(value)
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _task(c: Checker, kp: tuple, spec: dict) -> None:
    """``task:`` names a registered task (what the truth is, how outputs decode, which metrics judge them)."""
    task = spec.get("task")
    if isinstance(task, str) and task not in TASKS:
        c.bad(
            kp + ("task",),
            f"unknown task {task!r}; known: {', '.join(TASKS.names())}{suggest(task, TASKS.names())}",
        )


def _axes(c: Checker, data: dict) -> list[tuple[str, tuple[Any, ...]]]:
    """The standard axes (plural keys) the manifest uses, then its extra named axes."""
    axes: list[tuple[str, tuple[Any, ...]]] = []
    models = _dict(data, "models").values()
    for singular, plural in STANDARD_AXES:
        if (
            singular not in DEFAULT_AXES
            and plural not in data
            and not any(isinstance(m, dict) and plural in m for m in models)
        ):
            continue  # an optional axis (scenario) the manifest does not use
        values = data.get(plural, DEFAULT_AXES.get(singular))
        if singular == "topology" and isinstance(values, dict):
            values = list(values)  # the axis is the topologies' names
        if values is None and singular not in DEFAULT_AXES:
            values = [None]  # an optional axis some models use: the others run without it (no scenario)
        if values is None:
            if not all(isinstance(m, dict) and m.get(plural) for m in models):
                c.bad(
                    (),
                    f"missing {plural!r}: list the runtimes to run on, e.g. {plural}: [torch, onnxruntime] "
                    "(at the top level or in every model)",
                )
            values = []
        if isinstance(values, list):
            axes.append((singular, c.axis_values((plural,), singular, values)))
    standard_names = {s for s, _ in STANDARD_AXES} | {p for _, p in STANDARD_AXES} | {"model", "models"}
    for name, values in _dict(data, "axes").items():
        if name in standard_names:
            plural = dict(STANDARD_AXES).get(name.rstrip("s"), name)
            c.bad(("axes", name), f"{name!r} is a standard axis: write it at the top level as '{plural}:'")
            continue
        if isinstance(values, list):
            axes.append((name, c.axis_values(("axes", name), name, values)))
    return axes


def _model_dataset(c: Checker, data: dict, kp: tuple, spec: dict, datasets: dict[str, DatasetSpec]) -> str:
    """The dataset a model is evaluated on: named, or the suite's only one ("" for a kernel)."""
    ds = spec.get("dataset")
    if ds is None and "kernel" not in spec:
        if len(datasets) == 1:
            return next(iter(datasets))
        if datasets:
            c.bad(kp, f"model needs 'dataset:' (the suite defines {len(datasets)}: {', '.join(datasets)})")
        elif "datasets" not in data:
            c.bad(kp, "model needs a dataset to be evaluated on: add a 'datasets:' section")
    elif isinstance(ds, str) and ds not in _dict(data, "datasets"):
        defined = _dict(data, "datasets")
        c.bad(
            kp + ("dataset",), f"unknown dataset {ds!r}; defined: {', '.join(defined) or 'none'}{suggest(ds, defined)}"
        )
    return ds if isinstance(ds, str) else ""


def _model_axes(c: Checker, data: dict, kp: tuple, spec: dict) -> dict[str, tuple[Any, ...]]:
    """The standard axes a model narrows for itself (its topologies must be the suite's)."""
    out = {
        singular: c.axis_values(kp + (plural,), singular, spec[plural])
        for singular, plural in STANDARD_AXES
        if isinstance(spec.get(plural), list)
    }
    defined = _dict(data, "topologies")
    for i, t in enumerate(out.get("topology", ())):
        if t not in defined:
            c.bad(
                kp + ("topologies", i),
                f"unknown topology {_show(t)}; the suite's topologies: "
                f"{', '.join(defined) or 'none'}{suggest(t, defined)}",
            )
    return out


def _model(
    c: Checker,
    data: dict,
    path: Path,
    name: str,
    spec: dict,
    datasets: dict[str, DatasetSpec],
    groups: list[Any],
    provided: set[str],
    allow_outside: bool,
) -> ModelSpec:
    kp: tuple[Any, ...] = ("models", name)
    has_zoo, has_file, has_kernel = "zoo" in spec, "file" in spec, "kernel" in spec
    if has_zoo + has_file + has_kernel != 1:
        c.bad(
            kp,
            "a model needs exactly one of 'zoo:' (a built zoo model), 'file:' (a model file) or "
            "'kernel:' (an operation on fixed shapes)",
        )
    if "factory" in spec and not has_file:
        c.bad(kp, "'factory:' builds an architecture: give its weights as 'file:' (a state dict) with 'sha256:'")
    if isinstance(spec.get("factory"), str):
        c.factory(kp + ("factory",), spec["factory"], _trusted(data))
    elif "factory" in spec:
        c.bad(
            kp + ("factory",),
            f"expected 'module:function' (a function in the suite's folder), got {_show(spec['factory'])}",
        )
    if has_file and "sha256" not in spec:
        c.bad(kp, "a model 'file:' needs its 'sha256:' (run: sha256sum FILE)")
    if isinstance(spec.get("file"), str):
        c.inside(kp + ("file",), spec["file"], allow_outside)
    own_metrics, model_provided = _model_groups(c, kp, spec, groups, provided)
    _task(c, kp, spec)
    return ModelSpec(
        name=name,
        task=spec["task"] if isinstance(spec.get("task"), str) else None,
        dataset=_model_dataset(c, data, kp, spec, datasets),
        zoo=spec.get("zoo"),
        file=(path.parent / spec["file"]) if isinstance(spec.get("file"), str) else None,
        factory=spec.get("factory") if isinstance(spec.get("factory"), str) else None,
        code_root=path.parent,
        trusted_modules=_trusted(data),
        kernel=c.kernel(kp + ("kernel",), spec.get("kernel")) if has_kernel else None,
        sha256=spec.get("sha256"),
        input=_input(spec.get("input")),
        axes=_model_axes(c, data, kp, spec),
        preprocess=_preprocess(c, kp + ("preprocess",), spec.get("preprocess"), spec.get("input")),
        output=_output(spec.get("output")),
        gates=c.gates(kp + ("gates",), _dict(spec, "gates"), model_provided),
        metrics=own_metrics,
        regressions=c.regressions(kp + ("regressions",), _dict(spec, "regressions")),
        settings=dict(spec.get("settings") or {}) if isinstance(spec.get("settings"), dict) else {},
        line=c.index.line_of(kp),
    )


def _matrix(c: Checker, matrix: dict, axis_values: dict[str, tuple[Any, ...]], models: dict[str, ModelSpec]) -> None:
    """Every include/exclude rule names models and axis values that exist."""
    axis_names = list(axis_values)
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
                    if (
                        kind == "exclude"
                        and key not in c.broken_axes
                        and value not in axis_values[key]
                        and not any(value in m.axes.get(key, ()) for m in models.values())
                    ):
                        c.bad(
                            kp,
                            f"{_show(value)} is not a value of axis {key!r} ({', '.join(map(str, axis_values[key]))})"
                            f"{suggest(value, axis_values[key])}",
                        )
                    elif kind == "include" and key in ("framework", "quantization", "paradigm"):
                        c.axis_values(kp, key, [value], single=True)
                elif key in {p for _, p in STANDARD_AXES} | {"models"}:
                    c.bad(kp, f"matrix rules use singular axis names: {key[:-1]!r}, not {key!r}")
                elif kind == "exclude":
                    names = ["model", *axis_names]
                    c.bad(
                        kp,
                        f"exclude rule names {key!r}, which is not an axis; axes: {', '.join(names)}{suggest(key, names)}",
                    )
                elif difflib.get_close_matches(str(key), ["model", *axis_names], n=1, cutoff=INCLUDE_TYPO_CUTOFF):
                    names = ["model", *axis_names]
                    c.bad(
                        kp,
                        f"include rule key {key!r} is not an axis{suggest(key, names)} A key that is not "
                        f"an axis adds a variable to the item; name it apart from the axes ({', '.join(names)}), "
                        f"e.g. 'var_{key}', if that is what you mean",
                    )


def _profiles(c: Checker, data: dict) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The settings profiles and the default one (else 'quick' where defined)."""
    profiles = {k: dict(v) for k, v in _dict(data, "profiles").items() if isinstance(v, dict)}
    default = data.get("default_profile")
    if isinstance(default, str) and default not in profiles:
        c.bad(
            ("default_profile",),
            f"default_profile {default!r} is not among the profiles "
            f"({', '.join(profiles) or 'none defined'}){suggest(default, profiles)}",
        )
    return profiles, default if isinstance(default, str) else ("quick" if "quick" in profiles else None)


def _topologies(c: Checker, data: dict) -> dict[str, Any]:

    custom = {k: v for k, v in _dict(data, "nodes").items() if isinstance(v, dict)}
    for name, spec in custom.items():
        base = spec.get("profile", "rpi4")
        if isinstance(base, str) and base not in PROFILES:
            c.bad(
                ("nodes", name, "profile"),
                f"unknown node profile {base!r}; built in: {', '.join(PROFILES)}{suggest(base, PROFILES)}",
            )
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
                c.bad(
                    ("topologies", name, role),
                    f"unknown node {ref!r}; built in: {', '.join(PROFILES)}; "
                    f"defined in nodes: {', '.join(custom) or 'none'}{suggest(ref, known)}",
                )
                ok = False
        if ok:
            try:
                out[name] = topology_from(name, spec, custom)
            except (KeyError, TypeError, ValueError) as exc:
                c.bad(("topologies", name), f"invalid topology: {exc}")
    return out


__all__ = ["Settings", "build_suite", "parse_gate", "schema", "schema_problems", "value_token"]


def _finite(c: Checker, value: Any, keypath: tuple[Any, ...]) -> None:
    """No NaN or infinity anywhere (YAML's .nan/.inf): every bound in the schema lets them through,
    and every figure computed from one would be one too."""
    if isinstance(value, float) and not math.isfinite(value):
        c.bad(keypath, f"expected a finite number, got {value!r}")
    elif isinstance(value, dict):
        for key, v in value.items():
            _finite(c, v, keypath + (key,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(c, v, keypath + (i,))


#: an include key this close to an axis name is a typo, not a new variable ('quantisation', 'framwork')
INCLUDE_TYPO_CUTOFF = 0.75

#: more threads than this many per CPU only oversubscribe (and a huge count hangs session creation)
THREADS_PER_CPU = 8


def _thread_bounds(c: Checker, data: dict) -> None:
    """``threads:`` in every settings block (suite, profiles, models) within a multiple of this machine's CPUs."""
    cpus = os.cpu_count() or 1
    for kp, block in platform.settings_blocks(data):
        threads = block.get("threads") if isinstance(block, dict) else None
        if isinstance(threads, int) and not isinstance(threads, bool) and threads > THREADS_PER_CPU * cpus:
            c.bad(
                kp + ("threads",),
                f"threads: {threads} is more than {THREADS_PER_CPU} per CPU on this machine "
                f"({cpus} CPUs, so at most {THREADS_PER_CPU * cpus}); leave it out to use the CPUs this process may use",
            )


def _max_items(data: dict) -> int:
    value = data.get("max_items")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 100_000
