"""Hooks pytest-aibench adds (``pytest_aibench_*``); implement them in a conftest or plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_aibench.core.result import Result

hookspec = pytest.hookspec


@hookspec(firstresult=True)
def pytest_aibench_make_runner(name: str, config: pytest.Config) -> Any | None:
    """Return a Runner for framework ``name`` (see ``pytest_aibench.runtimes.Runner``), or None to
    let the registry answer. Called when a manifest names a framework and when an item is set up."""


def pytest_aibench_runner_names(config: pytest.Config) -> list[str]:  # type: ignore[empty-body]
    """Names your ``pytest_aibench_make_runner`` answers to, so manifests naming them validate and
    typos get a "did you mean" that includes them."""


def pytest_aibench_machine_info(config: pytest.Config, info: dict[str, Any]) -> None:
    """Add to or amend the machine description written into the run JSON (``info`` is mutable)."""


def pytest_aibench_measured(item: pytest.Item, result: Result) -> None:
    """Called in the process that measured ``item``, before gates are checked: add metrics or
    flags to ``result`` here and they are gated, journaled and reported like built-in ones."""


def pytest_aibench_finished(config: pytest.Config, result: Result) -> None:
    """Called on the controller when an item's result is final (after its teardown), just after
    it is appended to the journal."""
