"""Loading manifests: find them, parse them safely, validate them, and report every problem at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pytest_aibench.core.case import Case
from pytest_aibench.core.model import Gate, Settings, Suite
from pytest_aibench.manifest import matrix
from pytest_aibench.manifest.validate import build_suite
from pytest_aibench.manifest.yamlsafe import Problem, YamlError
from pytest_aibench.manifest.yamlsafe import load as load_yaml

_SUITE_KEY = re.compile(rb"^suite\s*:", re.MULTILINE)


@dataclass(frozen=True)
class LoadedSuite:
    suite: Suite
    cases: tuple[Case, ...]


class ManifestError(Exception):
    """Every problem found in one or more manifests; ``str()`` is the report a user reads."""

    def __init__(self, problems: list[tuple[Path, Problem]]):
        self.problems = problems
        super().__init__(self.report())

    def report(self) -> str:
        files = {p for p, _ in self.problems}
        head = f"{len(self.problems)} problem{'s' * (len(self.problems) != 1)} in {len(files)} manifest{'s' * (len(files) != 1)}:"
        lines = [head]
        for path, prob in self.problems:
            where = f"{path}:{prob.line}" if prob.line else f"{path}"
            key = ".".join(str(k) for k in prob.path) or "(top level)"
            lines.append(f"  {where}: {key}: {prob.message}")
        return "\n".join(lines)


def discover(args: Iterable[str], cwd: Path) -> tuple[list[Path], list[tuple[Path, Problem]]]:
    """Manifest files named by ``--aibench`` values: a file as given, or every YAML file under a
    folder whose text has a top-level ``suite:`` key (other YAML there is data, not a manifest).
    Returns the files and the problems with values that name nothing."""
    found: list[Path] = []
    missing: list[tuple[Path, Problem]] = []
    for arg in args:
        path = (cwd / arg) if not Path(arg).is_absolute() else Path(arg)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            hits = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml") and p.is_file() and _SUITE_KEY.search(p.read_bytes()[:65536])
            )
            if not hits:
                missing.append(
                    (path, Problem(None, (), "folder holds no manifest (a .yaml file with a top-level 'suite:' key)"))
                )
            found += hits
        else:
            missing.append((path, Problem(None, (), "no such file or folder (given to --aibench)")))
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique), missing


def load(
    path: Path,
    runner_known: Callable[[str], bool],
    display: Path | None = None,
    runner_names: Callable[[], list[str]] | None = None,
    code: bool = True,
) -> LoadedSuite:
    """Load and validate one manifest; raise :class:`ManifestError` with all of its problems
    (``code=False``: a manifest naming any code, factory or stage, is refused)."""

    shown = display or path
    try:
        data, index, raw = load_yaml(path)
    except YamlError as exc:
        raise ManifestError([(shown, p) for p in exc.problems]) from None
    except OSError as exc:
        raise ManifestError([(shown, Problem(None, (), f"cannot read: {exc.strerror or exc}"))]) from None
    suite, problems = build_suite(path, data, index, raw, runner_known, shown, runner_names, code)
    if suite is None:
        raise ManifestError([(shown, p) for p in problems])
    cases, problems = matrix.expand(suite)
    empty = matrix.emptied(suite, cases) if not problems else None
    if empty is not None:
        problems.append(empty)
    if problems:
        raise ManifestError([(shown, p) for p in problems])
    return LoadedSuite(suite, tuple(cases))


def load_all(
    paths: list[Path],
    runner_known: Callable[[str], bool],
    rootdir: Path,
    problems: list[tuple[Path, Problem]] | None = None,
    runner_names: Callable[[], list[str]] | None = None,
    code: bool = True,
) -> list[LoadedSuite]:
    """Load every manifest, collecting all problems of all files (and ``problems`` already found)
    before raising."""
    out: list[LoadedSuite] = []
    problems = list(problems or [])
    names: dict[str, Path] = {}
    for path in paths:
        shown = _rel(path, rootdir)
        try:
            loaded = load(path, runner_known, shown, runner_names, code)
        except ManifestError as exc:
            problems += exc.problems
            continue
        other = names.setdefault(loaded.suite.name, shown)
        if other != shown:
            problems.append(
                (
                    shown,
                    Problem(
                        loaded.suite.lines.line_of(("suite",)),
                        ("suite",),
                        f"suite name {loaded.suite.name!r} is already used by {other}; "
                        "suite names must be unique (they key ids, seeds and baselines)",
                    ),
                )
            )
            continue
        out.append(loaded)
    if problems:
        raise ManifestError(problems)
    return out


def _rel(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return path


__all__ = ["Case", "Gate", "LoadedSuite", "ManifestError", "Settings", "Suite", "discover", "load", "load_all"]
