"""Model cards: what was built, from what, with which tools, and each artifact's sha256."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench.errors import CardError
from pytest_aibench.files import shipped, verify
from pytest_aibench.zoo import cache  # which names are published-size models built into the cache


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

    def mflops_at(self, resolution: int | None) -> float | None:
        """MFLOPs per sample at ``resolution`` as counted at build time (None if not counted there)."""
        flops = self.data.get("flops")
        if isinstance(flops, dict):
            key = str(resolution) if resolution is not None else None
            if key in flops:
                return flops[key] / 1e6
            return None if resolution is not None or not flops else next(iter(flops.values())) / 1e6
        return self.data.get("mflops")

    def reference(self, dataset_sha256: str) -> Any:
        """The fp32 model's predictions on the evaluation split with this content hash, or None."""
        if dataset_sha256 not in self._references():
            return None
        return self._references()[dataset_sha256]

    def _references(self) -> dict[str, Any]:
        cached = _REFERENCES.get(str(self.folder))
        if cached is None:
            path = self.folder / "reference.npz"
            cached = {}
            if path.is_file():
                verify(path, self.data.get("reference", {}).get("sha256"), "reference predictions")
                with np.load(path, allow_pickle=False) as z:
                    cached = {k: z[k] for k in z.files}
            _REFERENCES[str(self.folder)] = cached
        return cached


_CACHE: dict[tuple[str, str], Card] = {}
_REFERENCES: dict[str, dict[str, Any]] = {}


def find_card(name: str, fixtures: Path | None = None) -> Card:
    """The card of zoo model ``name`` (``fixtures/models/<name>/card.json``), in the shipped fixtures
    or under another tree's ``fixtures`` folder (a reference checkout)."""
    key = (str(fixtures or ""), name)
    if key in _CACHE:
        return _CACHE[key]
    try:
        if cache.is_published(name) and (fixtures is None or not (fixtures / "models" / name).is_dir()):
            # built on first use, into the cache: a reference checkout's published models are the same seeded
            # builds, pinned by the same lock (check_pinned below)
            found = cache.cached_card(name)
            if found is None:
                raise FileNotFoundError(f"it is built on first use into {cache.cache_root() / name}, and has not been")
            path = found
        elif fixtures is None:
            path = shipped(f"models/{name}/card.json")
        else:
            path = fixtures / "models" / name / "card.json"
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist")
    except FileNotFoundError as exc:
        raise CardError(
            f"zoo model {name!r} is not built: {exc}. Build it with `python -m pytest_aibench.zoo build {name}`"
        ) from None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CardError(f"model card {path} is unreadable: {exc}") from None
    if cache.is_published(name) and isinstance(data, dict):
        cache.check_pinned(name, data.get("artifacts") or {}, path.parent)
    card = Card(name, path.parent, data)
    _CACHE[key] = card
    return card
