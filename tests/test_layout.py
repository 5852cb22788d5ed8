"""The package's shape: layers without import cycles (counting imports inside functions and under
TYPE_CHECKING), small modules and functions, and one lazy-import boundary."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_aibench"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        name = ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in mods and t != name and not name.startswith(t + ".")}
    # ``lazy("pytest_aibench.x")`` imports on first use: an import all the same
    out |= {t for t in re.findall(r'lazy\(\s*"([\w.]+)"', path.read_text()) if t in mods and t != name}
    return out


def _folder(module: str) -> str:
    """A module's floor plan unit: its top-level package or module (``__main__`` entry points stand apart:
    nothing imports them)."""
    if module.endswith("__main__"):
        return "__main__"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_import_cycles():
    mods = _modules()
    graph = {m: _imports(m, p, mods) for m, p in mods.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles[:3]


def test_folders_form_layers():
    """No folder-level arrow runs back up: the folders (``core`` at the bottom, ``cli`` at the top) are a
    directed acyclic graph, so any folder can be read, tested and replaced with only those below it."""
    mods = _modules()
    arrows: dict[str, set[str]] = {}
    why: dict[tuple[str, str], str] = {}
    for m, p in mods.items():
        for d in _imports(m, p, mods):
            a, b = _folder(m), _folder(d)
            if a != b:
                arrows.setdefault(a, set()).add(b)
                why.setdefault((a, b), f"{m} -> {d}")
    state: dict[str, int] = {}
    back: list[str] = []

    def visit(f: str, stack: list[str]) -> None:
        state[f] = 1
        for g in sorted(arrows.get(f, ())):
            if state.get(g) == 1:
                loop = stack[stack.index(g) :] + [g]
                back.append(" / ".join(why[(x, y)] for x, y in zip(loop, loop[1:], strict=False)))
            elif g not in state:
                visit(g, stack + [g])
        state[f] = 2

    for f in sorted(arrows):
        if f not in state:
            visit(f, [f])
    assert not back, back[:3]
    assert not arrows.get("core"), f"the ground floor imports above it: {sorted(arrows['core'])}"


def test_modules_and_functions_stay_small():
    """Counted in `ruff format`'s lines: 500 per module; 80 per function (the formatter puts a long call's
    arguments one per line, so 80 formatted lines hold what 60 hand-packed ones did)."""
    big = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500
    }
    long = [
        f"{p.relative_to(PACKAGE)}:{f.name} ({f.end_lineno - f.lineno + 1})"
        for p in PACKAGE.rglob("*.py")
        for f in ast.walk(ast.parse(p.read_text()))
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.end_lineno - f.lineno + 1 > 80
    ]
    assert not big and not long, (big, long)


@pytest.mark.slow
def test_every_module_imports_on_its_own():
    """Layering holds at run time too: each module imports in a fresh interpreter, whatever came first."""
    names = sorted(m for m in _modules() if not m.endswith("__main__"))
    code = (
        "import importlib, subprocess, sys\n"
        "bad = [m for m in sys.argv[1:] if subprocess.run([sys.executable, '-c', 'import ' + m]).returncode]\n"
        "print(bad)\nsys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
