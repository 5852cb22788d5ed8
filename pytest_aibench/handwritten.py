"""Hand-written benchmark tests: the ``aibench`` marker as a one-item suite, and the ``aibench``
fixture that measures like pytest-benchmark's ``benchmark`` into the same leaderboard, through the
same tail as manifest items (gates, regression rules, latency rounds, places)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aibench.core.case import Case
from pytest_aibench.core.model import DatasetSpec, Gate, ModelSpec, Settings, Suite
from pytest_aibench.core.result import Result
from pytest_aibench.item import finish, measure_in
from pytest_aibench.judge.catalogue import known_metric_names
from pytest_aibench.judge.compare import RuleError, parse_rules
from pytest_aibench.manifest.validate import parse_gate
from pytest_aibench.outcomes import fail
from pytest_aibench.run.measure import Here, Prepared, options_of
from pytest_aibench.run.places import Local
from pytest_aibench.state import state
from pytest_aibench.zoo.cards import CardError, find_card

if TYPE_CHECKING:
    from pytest_aibench.run.plan import Plan
    from pytest_aibench.runtimes import RunnerSession

#: marker arguments that are not settings
MARKER_KEYS = ("model", "framework", "quantization", "dataset", "gates", "regressions")


def _dataset(model: str, dataset: Any) -> DatasetSpec:
    if isinstance(dataset, DatasetSpec):
        return dataset
    if isinstance(dataset, str):
        return DatasetSpec(name=dataset, source=dataset)
    try:
        d = find_card(model).dataset
    except CardError:
        d = {"source": "digits"}
    return DatasetSpec(
        name=d.get("source", "digits"),
        source=d.get("source", "digits"),
        eval_fraction=d.get("eval_fraction", 0.25),
        split_seed=d.get("split_seed", 0),
        params=d.get("params", {}),
    )


def _gates(nodeid: str, spec: Any) -> tuple[Gate, ...]:
    if not spec:
        return ()
    if not isinstance(spec, dict):
        raise pytest.UsageError(
            f"{nodeid}: aibench marker gates= expects a mapping such as "
            "{'accuracy': '>= 0.9', 'latency.p99_ms': '<= 5'}"
        )
    out = []
    for metric, text in spec.items():
        gate = parse_gate(str(metric), text, f"{nodeid} (marker)")
        if isinstance(gate, str):
            raise pytest.UsageError(f"{nodeid}: aibench marker gates[{metric!r}]: {gate}")
        out.append(gate)
    return tuple(out)


def _rules(nodeid: str, spec: Any) -> tuple[Any, ...]:
    if not spec:
        return ()
    text = ",".join(f"{k}:{v}" for k, v in spec.items()) if isinstance(spec, dict) else str(spec)
    try:
        return tuple(parse_rules(text, known_metric_names()))
    except RuleError as exc:
        raise pytest.UsageError(f"{nodeid}: aibench marker regressions=: {exc}") from None


def case_from_marker(request: pytest.FixtureRequest) -> Case:
    """The case of a hand-written test, from its ``aibench`` marker: a suite of one model."""
    marker = request.node.get_closest_marker("aibench")
    kw = dict(marker.kwargs) if marker else {}
    nodeid = request.node.nodeid
    unknown = [k for k in kw if k not in MARKER_KEYS and k not in Settings.names()]
    if unknown:
        raise pytest.UsageError(
            f"{nodeid}: unknown aibench marker argument(s) {', '.join(unknown)}; expected "
            f"{', '.join(MARKER_KEYS)} or a setting ({', '.join(Settings.names())})"
        )
    model = kw.pop("model", "tinycnn-digits")
    framework = kw.pop("framework", "onnxruntime")
    quantization = kw.pop("quantization", "fp32")
    dataset = _dataset(model, kw.pop("dataset", None))
    gates, rules = _gates(nodeid, kw.pop("gates", None)), _rules(nodeid, kw.pop("regressions", None))
    label = request.node.name
    file = nodeid.split("::")[0]
    axes = (("framework", framework), ("quantization", quantization), ("paradigm", "single"))
    suite = Suite(
        name=file,
        version="",
        path=Path(str(request.node.path)),
        sha256="",
        datasets={dataset.name: dataset},
        models={label: ModelSpec(name=label, dataset=dataset.name, zoo=model, gates=gates, regressions=rules)},
        axes=tuple((k, (v,)) for k, v in axes),
        settings=kw,
    )
    return Case(file, label, axes, (), "-".join(v for _, v in axes), suite)


class CallableSession:
    """Lets any ``batch -> scores`` callable be measured like a prepared model."""

    def __init__(self, fn: Any):
        self._fn = fn
        self.options = {"callable": getattr(fn, "__qualname__", repr(fn))}

    def adapt(self, x: Any) -> Any:
        return x

    def infer(self, batch: Any) -> Any:
        return self._fn(batch)

    def close(self) -> None:
        pass


class DeferredSession:
    """``aibench_runner`` where items are measured in another process: a real session of the plan's
    model, prepared here only when the test itself calls it (passed to ``aibench(...)``, it is
    measured where the item's place measures, and never prepared here)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self._session: RunnerSession | None = None

    def _live(self) -> RunnerSession:
        if self._session is None:
            self._session = self.plan.runner.get().prepare(self.plan.artifact, self.plan.node, self.plan.settings)
        return self._session

    @property
    def options(self) -> dict[str, Any]:
        return options_of(self._session) if self._session is not None else {"prepared": "where the item is measured"}

    def adapt(self, x: Any) -> Any:
        return self._live().adapt(x)

    def infer(self, batch: Any) -> Any:
        return self._live().infer(batch)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class Measurer:
    """The ``aibench`` fixture's value; call it once per test."""

    def __init__(self, request: pytest.FixtureRequest, plan: Plan):
        self._request = request
        self._plan = plan
        self.result: Result | None = None

    def __call__(self, target: Any, dataset: Any = None, **settings: Any) -> Result:
        if self.result is not None:
            raise pytest.UsageError("the aibench fixture measures once per test; split the test to measure twice")
        req, plan = self._request, self._plan
        unknown = [k for k in settings if k not in Settings.names()]
        if unknown:
            raise TypeError(
                f"aibench() got unknown setting(s) {', '.join(unknown)}; known: {', '.join(Settings.names())}"
            )
        plan = replace(plan, settings=plan.settings.merged(settings))
        own = req.node.funcargs.get("aibench_runner")
        st = state(req.config)
        if own is not None and target is own:  # the plan's own model: measured wherever the place measures
            place = req.getfixturevalue("aibench_place")
            result = measure_in(place, plan)
        elif st.isolated(plan.case.suite):
            fail(
                f"{req.node.nodeid}: aibench({type(target).__name__}) cannot measure a Python object in another "
                "process (--aibench-isolate, a timeout or --aibench-dispatch): pass the aibench_runner fixture, "
                "whose model is prepared where it is measured, or run without isolation"
            )
        else:
            session = target if hasattr(target, "infer") and hasattr(target, "adapt") else CallableSession(target)
            fixture_data = req.node.funcargs.get("aibench_dataset")
            here = Here(
                Prepared(session),
                st.roles(),
                st.progress_for(plan.case.id),
                renewable=False,
                dataset=None if dataset is None or dataset is fixture_data else dataset,
            )
            result = measure_in(Local(here), plan)
        self.result = result
        finish(req.node, plan, result)
        return result
