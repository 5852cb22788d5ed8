"""Reading a run for the ``aibench`` commands: a run JSON, a saved run's name, or a run's journal (its
folder, its ``journal.jsonl``, or ``latest``): the journal is the one file a default run writes, so a
run made without ``--aibench-json`` can still be shown and reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_aibench.core.result import Result
from pytest_aibench.judge.baseline import saved_path
from pytest_aibench.report import journal, runjson

LATEST = "latest"


def _journal_of(p: Path, out: Path) -> Path | None:
    if p.name == "journal.jsonl" or p.suffix == ".jsonl":
        return p if p.is_file() else None
    if p.is_dir() and (p / "journal.jsonl").is_file():
        return p / "journal.jsonl"
    if str(p) == LATEST:
        runs = (
            sorted((d for d in (out / "runs").glob("*") if (d / "journal.jsonl").is_file()), key=lambda d: d.name)
            if (out / "runs").is_dir()
            else []
        )
        return runs[-1] / "journal.jsonl" if runs else None
    return None


def from_journal(path: Path) -> tuple[dict[str, Any], list[Result]]:
    """A run document rebuilt from a journal: its header, items and (if the run finished) footer."""
    header, items, footer = journal.read(path)
    if not header:
        raise ValueError("no header line: not a pytest-aibench journal")
    results = [Result.from_dict(rec) for rec in items]
    end = dict(footer or {"finished": None, "interrupted": True})
    machine = end.pop("machine", None) or {}
    run = {k: v for k, v in header.items() if k != "manifests"} | end | {"journal": str(path)}
    return runjson.build(run, machine, list(header.get("manifests") or []), results), results


def load_run(path: str, out: Path = Path(".aibench")) -> tuple[dict[str, Any], list[Result]]:
    """The run document and its results, or SystemExit with the reason."""
    p = Path(path)
    found = _journal_of(p, out)
    if found is not None:
        try:
            return from_journal(found)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"aibench: {found}: not a pytest-aibench journal ({exc})") from None
    if path == LATEST:
        raise SystemExit(
            f"aibench: no run journal under {out / 'runs'}: run pytest --aibench ... first, or name a run JSON"
        )
    if not p.is_file():
        saved = saved_path(out, path)
        if saved.is_file():
            p = saved
        else:
            raise SystemExit(
                f"aibench: {path}: no such run JSON, journal or run folder (nor a saved run of that "
                f"name in {out / 'saved'})"
            )
    try:
        return runjson.read(p)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"aibench: {p}: not a pytest-aibench run JSON ({exc})") from None
