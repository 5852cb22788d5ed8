"""A manifest collected as a pytest Module: one test function per model, parametrised by its cases.

Items are therefore real ``pytest.Function``s: conftest fixtures, ``-k``, markers, ``--lf`` and
xdist all work as for hand-written tests. Collection builds no model and loads no data.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aibench._lazy import lazy
from pytest_aibench.core.case import Case
from pytest_aibench.heap import no_gc
from pytest_aibench.manifest.matrix import marker_tokens
from pytest_aibench.state import state

if TYPE_CHECKING:
    from pytest_aibench import item
else:
    item = lazy("pytest_aibench.item")  # what runs an item (paradigms, runners): not needed to collect one


def _model_function(model: str, module_name: str, doc: str, path: str, line: int | None) -> Any:
    def run(aibench_plan: Any, aibench_place: Any, request: pytest.FixtureRequest) -> None:
        item.run_item(aibench_plan, aibench_place, request.node)

    # pytest locates a test by its function's code (``reportinfo`` -> ``getfslineno``): point it at the
    # model's line in the manifest, so JUnit's file/line, ``--co`` and IDEs name the manifest, not this file
    run.__code__ = run.__code__.replace(co_filename=path, co_firstlineno=max(1, line or 1))

    run.__name__ = run.__qualname__ = model
    run.__module__ = module_name
    run.__doc__ = doc
    run.__aibench_model__ = model  # type: ignore[attr-defined]
    return run


class SuiteModule(pytest.Module):
    """The collector of one manifest file."""

    _module: types.ModuleType | None = None

    def _getobj(self) -> types.ModuleType:
        if self._module is not None:
            return self._module
        loaded = state(self.config).suites[self.path.resolve()]
        suite = loaded.suite
        mod = types.ModuleType(f"aibench_suite_{suite.name}")
        mod.__file__ = str(self.path)
        by_model: dict[str, list[Case]] = {}
        for case in loaded.cases:
            by_model.setdefault(case.model, []).append(case)
        marks: dict[str, pytest.MarkDecorator] = {}  # one decorator per token: items share a few values

        def marks_of(case: Case) -> list[pytest.MarkDecorator]:
            out = []
            for token in marker_tokens(case):
                mark = marks.get(token)
                if mark is None:
                    mark = marks[token] = getattr(pytest.mark, token)
                out.append(mark)
            return out

        for model, cases in by_model.items():
            spec = suite.models[model]
            source = f"zoo model {spec.zoo}" if spec.zoo else f"file {spec.file}"
            setattr(
                mod,
                model,
                _model_function(
                    model,
                    mod.__name__,
                    f"{suite.name} {suite.version}: {model} ({source}), {len(cases)} combinations",
                    str(self.path),
                    suite.lines.line_of(("models", model)),
                ),
            )

        def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
            cases = by_model[metafunc.function.__aibench_model__]
            metafunc.parametrize(
                "aibench_case",
                [pytest.param(c, id=c.param_id, marks=marks_of(c)) for c in cases],
            )

        mod.pytest_generate_tests = pytest_generate_tests  # type: ignore[attr-defined]
        mod.pytestmark = [pytest.mark.aibench]  # type: ignore[attr-defined]
        self._module = mod
        return mod

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        """pytest's collection of the module, with the cycle collector paused: a 10,000-item manifest
        allocates ~10 objects per item, none in cycles, and each collection would re-walk the heap."""
        with no_gc():
            return super().collect()

    def istestfunction(self, obj: object, name: str) -> bool:
        return getattr(obj, "__aibench_model__", None) == name
