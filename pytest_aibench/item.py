"""The body of a benchmark item: measure its plan where its place measures, then the tail every
item shares (record the Result on the item, judge gates and regressions, fail with one message)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_aibench.core.result import Result
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.judge.gates import check_all
from pytest_aibench.outcomes import fail
from pytest_aibench.run.places import Place, PlaceError
from pytest_aibench.state import RESULT, state

if TYPE_CHECKING:
    from pytest_aibench.run.plan import Plan


def measure_in(place: Place, plan: Plan) -> Result:
    """The plan measured by ``place``; a model that does not fit or a place that cannot deliver fails
    the item with one message, a combination that cannot run here skips it."""
    try:
        return place.measure(plan)
    except (ArtifactError, PlaceError) as exc:  # the model does not fit the data, a crash, a timeout
        msg = str(exc)  # the item id once: messages from deeper down may name it already
        fail(msg if msg.startswith(plan.case.id) else f"{plan.case.id}: {msg}")
    except NotAvailable as exc:
        pytest.skip(str(exc))
    raise AssertionError("unreachable")  # pragma: no cover


def record(item: pytest.Item, result: Result) -> None:
    """Attach ``result`` to the item: it rides on the test report (xdist-safe) and its metrics become
    JUnit ``<property>`` elements. ``pytest_aibench_measured`` may add metrics first."""
    item.config.hook.pytest_aibench_measured(item=item, result=result)
    item.stash[RESULT] = result
    for name, value in result.metrics.items():
        item.user_properties.append((f"aibench.{name}", value))


def finish(item: pytest.Item, plan: Plan, result: Result) -> None:
    """The shared tail: record, then gates, regression rules and LoadGen validity."""
    record(item, result)
    st = state(item.config)
    failures = check_all(
        plan.case,
        result,
        st.baseline,
        st.rules,
        plan.settings.require_valid,
        item.config.option.aibench_against_unknown == "fail",
    )
    if failures:
        fail(failures[0])


def run_item(plan: Plan, place: Place, item: pytest.Item) -> Result:
    result = measure_in(place, plan)
    finish(item, plan, result)
    return result
