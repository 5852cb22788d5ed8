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
``router``                llm_routing                      ``(query, threshold) -> bool`` (True: to the cloud)
========================  ==============================  ====================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pytest_aibench import usercode
from pytest_aibench.errors import ArtifactError
from pytest_aibench.usercode import is_code


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
    return {
        name: sum(sd[name].float() * (n / total) for sd, n in updates).to(template[name].dtype) for name in template
    }


def fedavg_unweighted(updates: list[tuple[dict[str, Any], int]], template: dict[str, Any]) -> dict[str, Any]:
    """Every client counts the same, however many samples it holds."""
    return fedavg([(sd, 1) for sd, _ in updates], template)


def confidence_router(query: dict[str, Any], threshold: float) -> bool:
    """To the cloud when the edge's least sure answer token has probability below ``threshold``."""
    return float(query["min_confidence"]) < threshold


def entropy_router(query: dict[str, Any], threshold: float) -> bool:
    """To the cloud when the edge's answer tokens' mean entropy exceeds ``threshold`` nats."""
    return float(query["mean_entropy"]) > threshold


def length_router(query: dict[str, Any], threshold: float) -> bool:
    """To the cloud when the prompt is longer than ``threshold`` tokens (decided before the edge runs)."""
    return int(query["prompt_tokens"]) > threshold


length_router.needs_edge_answer = False  # type: ignore[attr-defined]


def nearest_task(x: np.ndarray, knowledge_base: Any, threshold: float) -> str | None:
    """The known task whose input signature is nearest the batch's; None (unseen) when even the nearest
    is farther than ``threshold`` (relative distance)."""
    return knowledge_base.nearest(x, threshold)


BUILT_IN: dict[str, dict[str, Any]] = {
    "hard_example_mining": {"confidence": confidence_mining, "entropy": entropy_mining},
    "aggregation": {"fedavg": fedavg, "fedavg_unweighted": fedavg_unweighted},
    "task_detection": {"similarity": nearest_task},
    "router": {"confidence": confidence_router, "entropy": entropy_router, "length": length_router},
}
#: the param that names each stage's choice, and its default
DEFAULTS = {
    "hard_example_mining": "confidence",
    "aggregation": "fedavg",
    "task_detection": "similarity",
    "router": "confidence",
}


def _mining_checked(name: str, fn: Any) -> Any:
    def mine(confidence: np.ndarray, threshold: float) -> np.ndarray:
        out = fn(confidence, threshold)
        try:
            mask = np.asarray(out)
        except Exception:  # noqa: BLE001 - whatever came back is named below
            mask = np.asarray(None)
        if mask.shape != np.shape(confidence) or mask.dtype.kind not in "bi":
            raise ArtifactError(
                f"stage hard_example_mining {name!r} returned {_what(out)}; expected a boolean mask "
                f"of shape {list(np.shape(confidence))} (one flag per sample: True = hard)"
            )
        return mask.astype(bool)

    return mine


def _aggregation_checked(name: str, fn: Any) -> Any:
    def aggregate(updates: list[tuple[dict[str, Any], int]], template: dict[str, Any]) -> dict[str, Any]:
        out = fn(updates, template)
        if not isinstance(out, dict) or set(out) != set(template):
            raise ArtifactError(
                f"stage aggregation {name!r} returned {_what(out)}; expected a state dict with the "
                f"model's {len(template)} tensors ({', '.join(list(template)[:3])}, ...)"
            )
        for key, value in out.items():
            shape = tuple(getattr(value, "shape", ()))
            if shape != tuple(template[key].shape):
                raise ArtifactError(
                    f"stage aggregation {name!r}: tensor {key!r} has shape {list(shape)}, the model's "
                    f"is {list(template[key].shape)}"
                )
            if getattr(value, "is_floating_point", lambda: False)() and not bool(value.isfinite().all()):
                raise ArtifactError(
                    f"stage aggregation {name!r} returned NaN/inf weights in {key!r}; no accuracy is "
                    "reported from a model with non-finite weights"
                )
        return out

    return aggregate


def _detection_checked(name: str, fn: Any) -> Any:
    def detect(x: np.ndarray, knowledge_base: Any, threshold: float) -> str | None:
        out = fn(x, knowledge_base, threshold)
        if out is not None and not isinstance(out, str):
            raise ArtifactError(
                f"stage task_detection {name!r} returned {_what(out)}; expected a task name (str) "
                "or None (an unseen task)"
            )
        return out

    return detect


def _router_checked(name: str, fn: Any) -> Any:
    def route(query: dict[str, Any], threshold: float) -> bool:
        out = fn(query, threshold)
        if not isinstance(out, (bool, np.bool_)):
            raise ArtifactError(
                f"stage router {name!r} returned {_what(out)}; expected True (send the query to the cloud) "
                f"or False (the edge answers), given the query's {', '.join(sorted(query))}"
            )
        return bool(out)

    route.needs_edge_answer = getattr(fn, "needs_edge_answer", True)  # type: ignore[attr-defined]
    return route


def _what(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


#: how each stage's answer is checked before a paradigm uses it (the wrong type or NaN fails the item)
_CHECKS = {
    "hard_example_mining": _mining_checked,
    "aggregation": _aggregation_checked,
    "task_detection": _detection_checked,
    "router": _router_checked,
}


def checked(kind: str, name: str, fn: Any) -> Any:
    """``fn`` with its answers checked: one clear message instead of a traceback far away."""
    return _CHECKS[kind](name, fn)


def stage(kind: str, params: dict[str, Any], suite: Any) -> tuple[str, Any]:
    """(name, callable) of the ``kind`` stage the params select: a built-in, or the suite's own code
    (loaded through :mod:`pytest_aibench.usercode`, whose rule holds whatever route the value took)."""
    choice = params.get(kind, DEFAULTS[kind])
    known = BUILT_IN[kind]
    if is_code(choice):
        folder = suite.root if suite is not None else Path(".")
        trusted = tuple(getattr(suite, "trusted_modules", ()))
        try:
            fn = usercode.load(str(choice), folder, trusted, "stage")
        except usercode.UserCodeRefused as exc:
            raise ArtifactError(f"params.{kind}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - user code: its failure is this item's error, named
            raise ArtifactError(f"params.{kind} {choice!r} could not be loaded: {type(exc).__name__}: {exc}") from None
        if not callable(fn):
            raise ArtifactError(f"params.{kind} {choice!r} is not callable")
        return str(choice), checked(kind, str(choice), fn)
    if choice not in known:
        raise ArtifactError(f"params.{kind} {choice!r} is not a built-in ({', '.join(known)}) nor 'module:callable'")
    return str(choice), checked(kind, str(choice), known[choice])
