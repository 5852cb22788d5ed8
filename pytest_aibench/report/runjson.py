"""The run document written by ``--aibench-json``: machine, manifests with sha256, every item."""

from __future__ import annotations

from typing import Any

from pytest_aibench.core.result import Result
from pytest_aibench.core.rundoc import read, write_atomic
from pytest_aibench.report.summary import summarize

SCHEMA = "pytest-aibench/run/1"


def build(
    run: dict[str, Any], machine: dict[str, Any], manifests: list[dict[str, Any]], results: list[Result]
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        **run,
        "machine": machine,
        "manifests": manifests,
        "suites": summarize(results),
        "items": [r.to_dict() for r in results],
    }


__all__ = ["SCHEMA", "build", "read", "write_atomic"]
