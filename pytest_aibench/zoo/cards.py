"""Model cards: what was built, from what, with which tools, and each artifact's sha256."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import shipped


class CardError(Exception):
    """A zoo model is missing or its card is unreadable."""


@dataclass(frozen=True)
class Card:
    name: str
    folder: Path
    data: dict[str, Any]

    @property
    def family(self) -> str:
        return self.data["family"]

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.data.get("config", {}))

    @property
    def artifacts(self) -> dict[str, dict[str, Any]]:
        """``"framework/quantization"`` -> ``{"file", "sha256", "format"}``."""
        return self.data.get("artifacts", {})

    @property
    def input(self) -> dict[str, Any]:
        return self.data.get("input", {})

    @property
    def dataset(self) -> dict[str, Any]:
        return self.data.get("dataset", {})


_CACHE: dict[str, Card] = {}


def find_card(name: str) -> Card:
    """The card of zoo model ``name`` (``fixtures/models/<name>/card.json``)."""
    if name in _CACHE:
        return _CACHE[name]
    try:
        path = shipped(f"models/{name}/card.json")
    except FileNotFoundError as exc:
        raise CardError(f"zoo model {name!r} is not built: {exc}. Build it with "
                        f"`python -m pytest_aibench.zoo build {name}`") from None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CardError(f"model card {path} is unreadable: {exc}") from None
    card = Card(name, path.parent, data)
    _CACHE[name] = card
    return card
