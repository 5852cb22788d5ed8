"""Pluggable stages of the collaborative paradigms, as Ianvs lets algorithm developers plug theirs in.

Each stage is a small Protocol with built-ins by name; a manifest picks one in the paradigm's
``params:`` (``aggregation: fedavg``) or names its own ``module:callable`` from the manifest's folder
(the same rule as ``factory:``: the suite's own files only, unless listed under ``trusted_modules:``).
A stage's hyper-parameters are ordinary params, so ``grid:`` sweeps them like any other.

========================  ==============================  ====================================
param                     used by                          called as
========================  ==============================  ====================================
``hard_example_mining``   joint_inference,                 ``(confidence, threshold) -> bool mask``
                          incremental_learning
``aggregation``           federated_learning, fcil         ``(updates, template) -> state dict``
``task_detection``        lifelong_learning                ``(x, knowledge_base, threshold) -> task or None``
========================  ==============================  ====================================
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pytest_aibench.errors import ArtifactError
from pytest_aibench.manifest.checker import factory_file
from pytest_aibench.registry import import_path


class HardExampleMining(Protocol):
    def __call__(self, confidence: np.ndarray, threshold: float) -> np.ndarray: ...


class Aggregation(Protocol):
    def __call__(self, updates: list[tuple[dict[str, Any], int]], template: dict[str, Any]) -> dict[str, Any]: ...


class TaskDetection(Protocol):
    def __call__(self, x: np.ndarray, knowledge_base: Any, threshold: float) -> str | None: ...


def confidence_mining(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """Hard when the top-1 softmax confidence is below ``threshold``."""
    return np.asarray(confidence) < threshold


def entropy_mining(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """Hard when the binary entropy of the top-1 confidence is above ``threshold`` bits."""
    p = np.clip(np.asarray(confidence, dtype=np.float64), 1e-9, 1 - 1e-9)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p)) > threshold


def fedavg(updates: list[tuple[dict[str, Any], int]], template: dict[str, Any]) -> dict[str, Any]:
    """Weights averaged by each client's number of samples (FedAvg)."""
    total = sum(n for _, n in updates)
    return {name: sum(sd[name].float() * (n / total) for sd, n in updates).to(template[name].dtype)
            for name in template}


def fedavg_unweighted(updates: list[tuple[dict[str, Any], int]], template: dict[str, Any]) -> dict[str, Any]:
    """Every client counts the same, however many samples it holds."""
    return fedavg([(sd, 1) for sd, _ in updates], template)


def nearest_task(x: np.ndarray, knowledge_base: Any, threshold: float) -> str | None:
    """The known task whose input signature is nearest the batch's; None (unseen) when even the nearest
    is farther than ``threshold`` (relative distance)."""
    return knowledge_base.nearest(x, threshold)


BUILT_IN: dict[str, dict[str, Any]] = {
    "hard_example_mining": {"confidence": confidence_mining, "entropy": entropy_mining},
    "aggregation": {"fedavg": fedavg, "fedavg_unweighted": fedavg_unweighted},
    "task_detection": {"similarity": nearest_task},
}
#: the param that names each stage's choice, and its default
DEFAULTS = {"hard_example_mining": "confidence", "aggregation": "fedavg", "task_detection": "similarity"}


def is_user_code(value: Any) -> bool:
    return isinstance(value, str) and ":" in value


def _load(spec: str, folder: Path) -> Any:
    module, _, attr = spec.partition(":")
    path = factory_file(folder, module)
    if path is None:  # validation let it through: the manifest lists it under trusted_modules
        return import_path(spec)
    name = f"aibench_stage_{abs(hash(str(path)))}_{module.replace('.', '_')}"
    mod = sys.modules.get(name)
    if mod is None:
        loader = importlib.util.spec_from_file_location(name, path)
        assert loader is not None and loader.loader is not None
        mod = importlib.util.module_from_spec(loader)
        sys.path.insert(0, str(path.parent))
        try:
            loader.loader.exec_module(mod)
        finally:
            sys.path.remove(str(path.parent))
        sys.modules[name] = mod
        try:  # Dask workers cannot import a suite's file by this name: ship its code with the function
            import cloudpickle  # noqa: PLC0415 - optional (Dask), only for user code
            cloudpickle.register_pickle_by_value(mod)
        except Exception:  # noqa: BLE001 - without cloudpickle nothing is shipped anywhere
            pass
    obj: Any = mod
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def stage(kind: str, params: dict[str, Any], folder: Path | None) -> tuple[str, Any]:
    """(name, callable) of the ``kind`` stage the params select: a built-in or the suite's own code."""
    choice = params.get(kind, DEFAULTS[kind])
    known = BUILT_IN[kind]
    if is_user_code(choice):
        try:
            fn = _load(str(choice), folder or Path("."))
        except Exception as exc:  # noqa: BLE001 - user code: its failure is this item's error, named
            raise ArtifactError(f"params.{kind} {choice!r} could not be loaded: {type(exc).__name__}: {exc}") from None
        if not callable(fn):
            raise ArtifactError(f"params.{kind} {choice!r} is not callable")
        return str(choice), fn
    if choice not in known:
        raise ArtifactError(f"params.{kind} {choice!r} is not a built-in ({', '.join(known)}) nor 'module:callable'")
    return str(choice), known[choice]
