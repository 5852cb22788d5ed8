"""Paradigms: how a case is deployed and measured (one node; edge/cloud collaborations; learning).

A paradigm gets a :class:`ParadigmContext` and returns a :class:`Measurement`. The context is the
item's plan made live where it runs (here, in a child process or on a Dask worker): the prepared
session, the dataset, and typed handles for what a paradigm may need besides (the artifact and its
facts, the backend that places topology roles, other models of the suite). Register more paradigms
through the ``pytest_aibench.paradigms`` entry-point group or ``registry.PARADIGMS.register``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pytest_aibench.cluster.backend import Backend, InProcess
from pytest_aibench.errors import ArtifactError
from pytest_aibench.progress import Progress
from pytest_aibench.registry import Registry
from pytest_aibench.sim import roofline

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.case import Case
    from pytest_aibench.core.model import Settings
    from pytest_aibench.data import Dataset
    from pytest_aibench.measure import Measurement
    from pytest_aibench.runtimes import Runner, RunnerSession
    from pytest_aibench.sim.node import Node
    from pytest_aibench.sim.topology import Topology


def finite(scores: Any, where: str) -> Any:
    """``scores`` unchanged when every value is finite; else this item's error. An argmax over NaN picks
    class 0, and a quality figure made from that would be made up (every paradigm's predictions pass here)."""
    if isinstance(scores, dict):  # several named outputs: each must be finite
        for value in scores.values():
            finite(value, where)
        return scores
    arr = np.asarray(scores)
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        rows = int((~np.isfinite(arr.reshape(len(arr), -1))).any(axis=1).sum()) if arr.ndim else 1
        raise ArtifactError(
            f"{where}: NaN/inf scores for {rows} of {len(arr) if arr.ndim else 1} samples; no quality "
            "figure is reported from non-finite outputs (check the input scaling, the dtype, the "
            "learning rate or the aggregation)"
        )
    return scores


#: no default given (``ParadigmContext.param``)
MISSING: Any = object()


@dataclass(frozen=True)
class ModelFacts:
    """What the artifact and its card know that metrics and simulated devices need."""

    bytes: int | None = None  # the artifact's size on disk
    mflops: float | None = None  # MFLOPs per sample at the resolution the item runs
    onnx: Path | None = None  # the model's fp32 ONNX graph, whose operators the roofline counts
    sample: tuple[int, ...] | None = None  # one sample's shape (free sizes of the graph are this)

    def work(self) -> dict[str, Any] | None:
        """Per-kind FLOPs and bytes of one sample (sim.roofline.count), or None where no graph is counted."""
        if self.onnx is None or not self.onnx.is_file():
            return None
        try:
            return roofline.count(self.onnx, self.sample) or None
        except Exception:  # noqa: BLE001 - a graph onnx cannot infer: the FLOPs-only model then
            return None


@dataclass
class Companion:
    """Another model of the suite, prepared on the same runtime (e.g. joint inference's cloud model)."""

    session: RunnerSession
    artifact: ModelArtifact
    facts: ModelFacts


class Models(Protocol):
    """Prepares the suite's other models by name, wherever the item runs."""

    def prepare(self, name: str) -> Companion: ...


@dataclass
class ParadigmContext:
    case: Case
    settings: Settings
    dataset: Dataset
    session: RunnerSession
    node: Node
    seed: int
    topology: Topology
    params: dict[str, Any] = field(default_factory=dict)  # the paradigm's parameters (manifest params + grid)
    runner: Runner | None = None  # the runner that prepared ``session``
    artifact: ModelArtifact | None = None
    facts: ModelFacts = field(default_factory=ModelFacts)
    models: Models | None = None
    backend: Backend = field(default_factory=InProcess)  # where topology roles run
    item_dir: Path = Path(".")  # a folder for this item's own files (LoadGen logs)
    progress: Progress = field(default_factory=lambda: Progress(quiet=True))
    #: prepares another, independent session of the same model (latency rounds); None if impossible
    fresh_session: Callable[[], RunnerSession] | None = None
    #: the item's task (pytest_aibench.tasks): anything but classification hands raw outputs back as
    #: ``Measurement.scores`` and the image ids as ``labels``; the task decodes and scores them afterwards
    task: str = "classification"

    @property
    def untrained(self) -> bool:
        """Seeded published-size weights (their card says trained: false): nothing to judge."""
        card = getattr(self.artifact, "card", None)
        return card is not None and card.data.get("trained") is False

    @property
    def dense(self) -> bool:
        """Whether the outputs are not class scores (detection, segmentation, ...)."""
        return self.task != "classification"

    def param(self, name: str, default: Any = MISSING) -> Any:
        """The manifest's value of parameter ``name``, else ``default``, else the paradigm's declared default.
        A paradigm that declares ``Params`` may read only those: a name read but not declared is a bug here,
        not a manifest's typo (the checker refuses those before anything runs)."""
        declared = params_of(self.case.paradigm)
        if declared is not None:
            fields = {f.name: f for f in dataclasses.fields(declared)}
            if name not in fields:
                raise TypeError(
                    f"paradigm {self.case.paradigm!r} reads parameter {name!r}, which its Params do not declare"
                )
            if default is MISSING:
                default = _default(fields[name])
        if name in self.params:
            return self.params[name]
        if default is MISSING:
            raise TypeError(f"paradigm {self.case.paradigm!r} reads parameter {name!r} with no default")
        return default

    @property
    def distributed(self) -> bool:
        """Whether roles run on cluster workers (the case's runner and artifact travel to them)."""
        return self.backend.name != "in-process" and self.runner is not None and self.artifact is not None

    def other_model(self, name: str) -> Companion:
        if self.models is None:
            raise ArtifactError(f"{self.case.paradigm} needs model {name!r}, but no other model can be prepared here")
        return self.models.prepare(name)


class Paradigm(Protocol):
    """A way to deploy and measure a case. Besides ``name`` and ``run``, a paradigm declares (read by the
    rest of the house, each in one place): ``provides`` (its metrics: :class:`~pytest_aibench.core.metric.MetricInfo`
    by name) and ``Params`` (a frozen dataclass of its parameters with their defaults, which the manifest
    checker holds ``params:`` and ``grid:`` to)."""

    name: str

    def run(self, ctx: ParadigmContext) -> Measurement: ...


def params_of(paradigm: str) -> type | None:
    """The ``Params`` dataclass paradigm ``paradigm`` declares, or None (an unknown or undeclaring paradigm)."""
    if paradigm not in PARADIGMS:
        return None
    declared = getattr(PARADIGMS.get(paradigm), "Params", None)
    return declared if dataclasses.is_dataclass(declared) and isinstance(declared, type) else None


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return MISSING


PARADIGMS: Registry[Paradigm] = Registry(
    "paradigm",
    "pytest_aibench.paradigms",
    {
        "single": "pytest_aibench.paradigms.single:SingleNode",
        "edge_only": "pytest_aibench.paradigms.edge_cloud:EdgeOnly",
        "cloud_only": "pytest_aibench.paradigms.edge_cloud:CloudOnly",
        "joint_inference": "pytest_aibench.paradigms.joint:JointInference",
        "multi_edge_inference": "pytest_aibench.paradigms.multi_edge:MultiEdgeInference",
        "single_task_learning": "pytest_aibench.paradigms.learning:SingleTaskLearning",
        "federated_learning": "pytest_aibench.paradigms.federated:FederatedLearning",
        "federated_class_incremental_learning": "pytest_aibench.paradigms.federated:FederatedClassIncrementalLearning",
        "incremental_learning": "pytest_aibench.paradigms.learning:IncrementalLearning",
        "lifelong_learning": "pytest_aibench.paradigms.lifelong:LifelongLearning",
        "kernel": "pytest_aibench.paradigms.kernel:KernelBench",
        "trial": "pytest_aibench.paradigms.train:Trial",
        "search": "pytest_aibench.paradigms.search:Search",
        "train_to_quality": "pytest_aibench.paradigms.train:TrainToQuality",
        "serve_trained": "pytest_aibench.paradigms.train:ServeTrained",
        "generate": "pytest_aibench.paradigms.generate:Generate",
        "llm_edge_only": "pytest_aibench.paradigms.llm_collab:LlmEdgeOnly",
        "llm_cloud_only": "pytest_aibench.paradigms.llm_collab:LlmCloudOnly",
        "llm_routing": "pytest_aibench.paradigms.llm_collab:LlmRouting",
        "speculative_decoding": "pytest_aibench.paradigms.speculative:SpeculativeDecoding",
    },
)
