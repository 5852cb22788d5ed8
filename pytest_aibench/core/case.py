"""One combination of a suite: the unit that becomes a pytest item, a journal line and a baseline key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_aibench.core.model import Settings, Suite


@dataclass(frozen=True, slots=True)  # no __dict__: 10,000 fewer objects for each gc pass to walk
class Case:
    """model × axis values (+ include variables) of one suite; stable id, seed and markers."""

    suite_name: str
    model: str
    axes: tuple[tuple[str, Any], ...]
    variables: tuple[tuple[str, Any], ...] = ()
    param_id: str = ""
    suite: Suite | None = field(default=None, compare=False, hash=False, repr=False)
    # each axis value's marker token, in axes order, computed once when the matrix builds the case
    tokens: tuple[str, ...] = field(default=(), compare=False, hash=False, repr=False)

    def axis(self, name: str, default: Any = None) -> Any:
        for k, v in self.axes:
            if k == name:
                return v
        return default

    @property
    def framework(self) -> str:
        return self.axis("framework")

    @property
    def quantization(self) -> str:
        return self.axis("quantization", "fp32")

    @property
    def paradigm(self) -> str:
        return self.axis("paradigm", "single")

    @property
    def scenario(self) -> str | None:
        """The MLPerf LoadGen scenario, or None for the built-in loops."""
        return self.axis("scenario")

    @property
    def id(self) -> str:
        """``suite::model[param-id]``: independent of paths, so baselines and seeds survive moves."""
        return f"{self.suite_name}::{self.model}[{self.param_id}]"

    def seed_keys(self) -> tuple[tuple[str, Any], ...]:
        """What feeds the item's seed: the suite, the model, its dataset and the paradigm, a ``seed``
        variable, and the axes or variables the manifest names in ``seed_from:``; never the conditions
        under comparison (framework, quantization, topology, threads, scenario, device, grid points),
        so compared conditions share their random numbers and only what is compared differs."""
        keys: list[tuple[str, Any]] = [("suite", self.suite_name), ("model", self.model), ("paradigm", self.paradigm)]
        suite = self.suite
        if suite is not None and self.model in suite.models:
            keys.append(("dataset", suite.models[self.model].dataset))
        named = dict(self.variables)
        for name in ("seed", *(suite.seed_from if suite is not None else ())):
            value = named.get(name, self.axis(name))
            if value is not None and all(k != name for k, _ in keys):
                keys.append((name, value))
        return tuple(keys)

    def seed(self, run_seed: int) -> int:
        """The item's seed: a function of the run seed and :meth:`seed_keys` only (never of order)."""
        text = ";".join(f"{k}={v!r}" for k, v in self.seed_keys())
        digest = hashlib.sha256(f"{run_seed}:{text}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def settings(self, profile: str | None) -> Settings:
        assert self.suite is not None
        return self.suite.settings_for(self.model, profile, {**dict(self.axes), **dict(self.variables)})

    def describe(self) -> dict[str, Any]:
        """What a result records about the case."""
        return {
            "id": self.id,
            "suite": self.suite_name,
            "model": self.model,
            "axes": {"model": self.model, **dict(self.axes)},
            "variables": dict(self.variables),
        }
