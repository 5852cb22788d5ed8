"""Reading a run for the ``aibench`` commands: a run JSON path, or the name of a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_aibench.judge.baseline import saved_path
from pytest_aibench.report import runjson
from pytest_aibench.report.result import Result


def load_run(path: str) -> tuple[dict[str, Any], list[Result]]:
    """The run document and its results, or SystemExit with the reason."""
    p = Path(path)
    if not p.is_file():
        saved = saved_path(Path(".aibench"), path)
        if saved.is_file():
            p = saved
        else:
            raise SystemExit(f"aibench: {path}: no such run JSON (nor a saved run of that name in .aibench/saved)")
    try:
        return runjson.read(p)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"aibench: {p}: not a pytest-aibench run JSON ({exc})") from None
