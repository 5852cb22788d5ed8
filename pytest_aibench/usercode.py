"""The one door through which a manifest's own code (``module:callable``) is imported.

A manifest may name code in a model's ``factory:`` and in a paradigm's pluggable stages (``params``,
``grid:``, ``matrix.include``, the older ``rule:`` key). Each is loaded here, and only here, under one
rule: the module is a file in the suite's own folder, or the manifest lists it under
``trusted_modules:``. Validation reports a breach with file:line:key before anything runs; this module
checks again at load time, so a route validation does not know of still cannot reach
``import_module``. A run may also refuse all code (``aibench rerun`` on a bundle's manifests: a bundle
never carries code, so a manifest in it that names some is refused, whatever it trusts).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from pytest_aibench.errors import ArtifactError

#: paradigm params that pick a pluggable stage; ``rule`` is the older name of ``hard_example_mining``
STAGE_KEYS = ("hard_example_mining", "aggregation", "task_detection", "rule")


class UserCodeRefused(ArtifactError):
    """A ``module:callable`` outside the suite's folder that the manifest does not trust."""


def is_code(value: Any) -> bool:
    """``module:callable`` (what a stage or factory value looks like)."""
    return isinstance(value, str) and ":" in value


def factory_file(folder: Path, module: str) -> Path | None:
    """The file in ``folder`` that defines ``module`` (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``),
    never one that a symlink or ``..`` takes outside it."""
    if not module or any(not part.isidentifier() for part in module.split(".")):
        return None
    base = folder.joinpath(*module.split("."))
    root = folder.resolve()
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file() and root in candidate.resolve().parents:
            return candidate
    return None


def trusted(module: str, trusted_modules: tuple[str, ...]) -> bool:
    return module in trusted_modules or module.split(".")[0] in trusted_modules


def refusal(spec: str, folder: Path, trusted_modules: tuple[str, ...], what: str, allowed: bool = True) -> str | None:
    """Why ``spec`` may not be imported (None: it may)."""
    module = spec.partition(":")[0]
    if not allowed:
        return (
            f"{what} {spec!r} names code, and this run takes none (a bundle's manifest never carries code; "
            "run the suite from its own checkout to use it)"
        )
    if trusted(module, trusted_modules) or factory_file(folder, module) is not None:
        return None
    rel = module.replace(".", "/")
    return (
        f"{what} {spec!r}: module {module!r} is not a file in the manifest's folder {folder} (expected "
        f"{rel}.py or {rel}/__init__.py there); a {what} imports the suite's own code, never the standard "
        "library or site-packages: move the function into the suite's folder, or list the package under "
        "'trusted_modules:' if you mean it"
    )


def load(spec: str, folder: Path, trusted_modules: tuple[str, ...], what: str) -> Any:
    """The object ``spec`` names, imported under the rule above; :class:`UserCodeRefused` otherwise."""
    why = refusal(spec, folder, trusted_modules, what)
    if why is not None:
        raise UserCodeRefused(why)
    module, _, attr = spec.partition(":")
    path = factory_file(folder, module)
    if path is None:  # trusted: imported by name
        obj: Any = importlib.import_module(module)
    else:
        obj = _load_file(f"aibench_user_{abs(hash(str(path.resolve())))}_{module.replace('.', '_')}", path)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def _load_file(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=None)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the suite's sibling modules, as a script would see them
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    sys.modules[name] = module
    try:  # Dask workers cannot import a suite's file by this name: ship its code with the function
        cloudpickle = importlib.import_module("cloudpickle")
        cloudpickle.register_pickle_by_value(module)
    except Exception:  # noqa: BLE001 - without cloudpickle nothing is shipped anywhere
        pass
    return module


def stage_specs(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, spec) of every stage in ``params`` that names code."""
    return [(k, v) for k, v in params.items() if k in STAGE_KEYS and is_code(v)]
