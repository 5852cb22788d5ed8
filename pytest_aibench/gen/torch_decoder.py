"""A torch decoder module (:mod:`pytest_aibench.gen.arch`) driven token by token, in its session's dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_aibench._lazy import lazy

torch = lazy("torch")


class TorchDecoder:
    """The :class:`~pytest_aibench.gen.decoding.Decoder` of a module with ``step(ids, past)``."""

    def __init__(self, module: Any, dtype: Any):
        self._module, self._dtype = module, dtype
        info = module.describe()
        self.context, self.vocab = int(info["context"]), int(info["vocab"])

    def start(self) -> Any:
        return None

    def forward(self, ids: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        with torch.inference_mode():
            logits, present = self._module.step(torch.tensor(np.asarray(ids), dtype=torch.long)[None], state)
            return logits[0].float().numpy(), present

    def length(self, state: Any) -> int:
        return 0 if not state else int(state[0][0].shape[2])

    def keep(self, state: Any, length: int) -> Any:
        return [(k[:, :, :length], v[:, :, :length]) for k, v in state] if state else state

    def kv_bytes(self, state: Any) -> int:
        return sum(t.element_size() * t.numel() for kv in state or () for t in kv)


def is_decoder(module: Any) -> bool:
    return callable(getattr(module, "step", None)) and callable(getattr(module, "describe", None))
