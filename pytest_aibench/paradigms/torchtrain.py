"""Training helpers the learning paradigms share (federated clients, incremental, lifelong, trials):
deterministic torch on one thread, seeded shuffles, prediction with confidence."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.errors import NotAvailable
from pytest_aibench.paradigms import finite
from pytest_aibench.zoo import build_module

if TYPE_CHECKING:
    import torch

    from pytest_aibench.paradigms import ParadigmContext
else:
    torch = lazy("torch")


@contextmanager
def deterministic(seed: int) -> Iterator[Any]:
    """One thread, deterministic algorithms, torch seeded: the same seed trains the same weights."""
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)


def architecture(ctx: ParadigmContext) -> tuple[str, dict[str, Any]]:
    """The case's zoo family and config, which these paradigms train with torch (else NotAvailable)."""
    art = ctx.artifact
    if ctx.case.framework != "torch" or art is None or not art.family:
        raise NotAvailable(
            f"{ctx.case.paradigm} trains a zoo architecture with torch; framework "
            f"{ctx.case.framework!r} with this model cannot"
        )
    return art.family, dict(art.config)


def fresh(ctx: ParadigmContext, seed: int) -> Any:
    """A seeded, untrained module of the case's architecture."""
    family, config = architecture(ctx)
    torch.manual_seed(seed)
    return build_module(family, config)


def sgd(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, lr: float, seed: int, batch: int = 32) -> None:
    """SGD with momentum over seeded shuffles (clients and incremental rounds)."""
    if len(y) == 0:
        return
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(yt), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()


def predict(model: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and their softmax confidence."""
    with torch.inference_mode():
        scores = model(torch.from_numpy(np.ascontiguousarray(x)))
        finite(scores.numpy(), "the trained model")
        prob = torch.softmax(scores, -1)
    return prob.argmax(-1).numpy(), prob.max(-1).values.numpy()


def nbytes(model: Any) -> int:
    return int(sum(p.numel() * p.element_size() for p in model.state_dict().values()))
