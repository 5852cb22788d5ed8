"""Saved runs as baselines: where they live and how an item finds its counterpart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_aibench.core import rundoc as runjson
from pytest_aibench.core.result import Result
from pytest_aibench.judge.compare import key


class BaselineError(Exception):
    """The baseline named cannot be found or read."""


@dataclass
class Baseline:
    path: Path
    doc: dict[str, Any]
    items: dict[tuple[str, str], Result] = field(default_factory=dict)

    @property
    def machine(self) -> dict[str, Any]:
        return self.doc.get("machine", {})

    def find(self, result: Result) -> Result | None:
        return self.items.get(key(result))


def saved_path(out: Path, name: str) -> Path:
    return out / "saved" / f"{name}.json"


def load_baseline(name_or_path: str, out: Path, cwd: Path) -> Baseline:
    """A saved name (``<out>/saved/NAME.json``) or a run JSON path."""

    candidates = [Path(name_or_path), cwd / name_or_path, saved_path(out, name_or_path)]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        saved = sorted(p.stem for p in (out / "saved").glob("*.json")) if (out / "saved").is_dir() else []
        raise BaselineError(
            f"--aibench-compare {name_or_path!r}: no such run JSON, and no saved baseline of that "
            f"name in {out / 'saved'} (saved: {', '.join(saved) or 'none'}; save one with "
            "--aibench-save NAME)"
        )
    try:
        doc, results = runjson.read(path)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise BaselineError(f"--aibench-compare: cannot read {path} as a pytest-aibench run: {exc}") from None
    return Baseline(path, doc, {key(r): r for r in results})
