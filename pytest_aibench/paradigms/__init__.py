"""Paradigms: how a case is deployed and measured (one node; later edge/cloud collaborations).

A paradigm gets a :class:`ParadigmContext` and returns a :class:`Measurement`. Register more
through the ``pytest_aibench.paradigms`` entry-point group or ``registry.PARADIGMS.register``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pytest_aibench.manifest.case import Case
    from pytest_aibench.data import Dataset
    from pytest_aibench.manifest.model import Settings
    from pytest_aibench.measure import Measurement
    from pytest_aibench.sim.node import Node
    from pytest_aibench.runtimes import RunnerSession


@dataclass
class ParadigmContext:
    case: Case
    settings: Settings
    dataset: Dataset
    session: RunnerSession
    node: Node
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)
    #: prepares another, independent session of the same model (for latency rounds); None if unavailable
    fresh_session: Callable[[], RunnerSession] | None = None
    topology: Any = None                       # sim.topology.Topology of the case (a default one if none)
    params: dict[str, Any] = field(default_factory=dict)  # the paradigm's parameters (manifest params + grid)

    def param(self, name: str, default: Any) -> Any:
        return self.params.get(name, default)


class Paradigm(Protocol):
    name: str

    def run(self, ctx: ParadigmContext) -> Measurement: ...
