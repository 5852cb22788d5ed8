"""Functions a topology role runs where the backend puts it (this process or a Dask worker).
They take plain, picklable arguments and cache prepared sessions per process."""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_aibench.paradigms.torchtrain import deterministic, sgd
from pytest_aibench.tasks import raw
from pytest_aibench.zoo import build_module

_SESSIONS: dict[tuple[Any, ...], Any] = {}


def scores(runner: Any, artifact: Any, node: Any, settings: Any, x: np.ndarray, batch: int) -> np.ndarray:
    """Class scores of ``x`` from ``artifact`` prepared here once (on this worker) and reused."""
    key = (str(artifact.path), artifact.sha256, artifact.quantization, node.threads)
    session = _SESSIONS.get(key)
    if session is None:
        session = _SESSIONS[key] = runner.prepare(artifact, node, settings)
    return raw.concat([session.infer(x[i : i + batch]) for i in range(0, len(x), batch)])


def client_update(
    family: str,
    config: dict[str, Any],
    state: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    lr: float,
    seed: int,
) -> tuple[dict[str, Any], int]:
    """One federated client's local training from the global weights (deterministic: 1 thread)."""
    with deterministic(seed):
        model = build_module(family, config)
        model.load_state_dict(state)
        sgd(model, x, y, epochs, lr, seed)
        return {k: v.detach().clone() for k, v in model.state_dict().items()}, len(y)
