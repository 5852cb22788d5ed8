"""One item's measurement, described once and frozen: what to run, on what, with which settings.

A :class:`Plan` is built at setup from the item's fixtures (so a conftest overriding
``aibench_node`` still applies), then handed unchanged to the place that measures it: this process,
a child process, or a Dask worker. It is picklable and holds no live object: runners travel as a
:class:`RunnerRef`, datasets as their spec, models as their verified artifact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aibench.core.model import DatasetSpec, Settings
from pytest_aibench.data import DATASETS, DatasetError
from pytest_aibench.paradigms import ModelFacts
from pytest_aibench.registry import import_path
from pytest_aibench.runtimes import RUNNERS
from pytest_aibench.sim.roofline import onnx_of
from pytest_aibench.sim.topology import Topology
from pytest_aibench.tasks import TASKS
from pytest_aibench.usercode import stage_specs

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.case import Case
    from pytest_aibench.data import Dataset
    from pytest_aibench.run.against import Against
    from pytest_aibench.runtimes import Runner
    from pytest_aibench.sim.node import Node

_RUNNERS: dict[tuple[str, str | None], Any] = {}


@dataclass(frozen=True)
class RunnerRef:
    """A runner by name, and by class where a hook (not the registry) made it, so another process
    can build the same runner without the hook."""

    name: str
    path: str | None = None  # "module:Class", importable where the item runs

    @classmethod
    def of(cls, name: str, runner: Any) -> RunnerRef:
        kind = type(runner)
        registered = name in RUNNERS and type(RUNNERS.get(name)) is kind
        return cls(name, None if registered else f"{kind.__module__}:{kind.__qualname__}")

    def get(self) -> Runner:
        key = (self.name, self.path)
        if key not in _RUNNERS:
            _RUNNERS[key] = RUNNERS.get(self.name) if self.path is None else import_path(self.path)()
        return _RUNNERS[key]

    def remember(self, runner: Any) -> None:
        """Use this very object in this process (a hook's runner need not be rebuilt here)."""
        _RUNNERS[(self.name, self.path)] = runner


@dataclass(frozen=True)
class ItemRef:
    """Where the item sits in the pytest run (recorded with its result)."""

    nodeid: str
    run_dir: Path
    profile: str | None = None
    worker: str | None = None  # the xdist worker id (gw0, ...), None when serial
    workers: int = 1  # xdist workers measuring at the same time


@dataclass(frozen=True)
class Plan:
    case: Case
    seed: int
    settings: Settings
    dataset: DatasetSpec | None  # None: a kernel, nothing to evaluate on
    artifact: ModelArtifact
    node: Node
    topology: Topology
    runner: RunnerRef
    item: ItemRef
    facts: ModelFacts = ModelFacts()
    params: dict[str, Any] = field(default_factory=dict)  # the paradigm's parameters (read-only)
    repeats: int = 1
    against: Against | None = None  # --aibench-against: the reference side measured beside this item
    task: str = "classification"  # how the outputs decode and are judged (pytest_aibench.tasks)

    @property
    def runs_user_code(self) -> bool:
        """The item calls the manifest's own code (a factory or a stage): measured in a child process."""
        return bool(self.artifact.factory or stage_specs(self.params))

    @property
    def item_dir(self) -> Path:
        """A folder for this item's own files, named after its case id."""
        return self.item.run_dir / "items" / re.sub(r"[^A-Za-z0-9_.+-]+", "_", self.case.id).strip("_")


def dataset_spec(case: Case, settings: Settings) -> DatasetSpec | None:
    """The case's dataset at the resolution its settings ask for; None for a kernel (no dataset)."""
    suite = case.suite
    assert suite is not None
    name = suite.models[case.model].dataset
    if not name:
        return None
    spec = suite.datasets[name]
    if settings.resolution is None:
        return spec
    if not getattr(DATASETS.get(spec.source), "resizable", False):
        raise DatasetError(
            f"setting resolution={settings.resolution} but dataset source {spec.source!r} cannot "
            "render or resize images"
        )
    return replace(spec, params={**spec.params, "size": settings.resolution})


def paradigm_params(case: Case) -> dict[str, Any]:
    """The suite's parameters for the case's paradigm, overridden by its include variables that are
    not settings (grid points)."""
    suite = case.suite
    assert suite is not None
    return {**suite.params.get(case.paradigm, {}), **{k: v for k, v in case.variables if k not in Settings.names()}}


def topology_of(case: Case) -> Topology:
    """The case's topology axis value, or the default one (a Raspberry-Pi-class edge and a cloud)."""
    name = case.axis("topology")
    suite = case.suite
    found = suite.topologies.get(name) if suite is not None and name else None
    return found if found is not None else Topology()


def task_for(case: Case, artifact: ModelArtifact | None, dataset: Dataset | None) -> str:
    """The case's task: the model's ``task:``, else its card's, else the dataset's ``task:``, else what the
    dataset's source yields truth for, else classification. A dataset whose truth is not class ids run
    as classification (or the reverse) is refused here, before anything is measured."""
    suite = case.suite
    assert suite is not None
    spec = suite.models[case.model]
    card = artifact.card if artifact is not None else None
    dspec = suite.datasets.get(spec.dataset)
    task = (
        spec.task
        or (card.data.get("task") if card is not None else None)
        or (dspec.task if dspec is not None else None)
        or (dataset.task if dataset is not None else None)
        or "classification"
    )
    needs_truth = task != "classification" and getattr(TASKS.get(task), "needs", "") != "labels"
    if dataset is not None and dataset.targets is None and needs_truth:
        raise DatasetError(
            f"model {case.model!r} is judged as {task!r}, but dataset {dataset.name!r} (source {dataset.source}) "
            "yields class labels only; choose a source with that task's truth (see the README's task and dataset "
            "tables: objects, pcb, coco, icu, face_pairs, interactions, clips, keywords, speech, wavs, qa...) "
            "or drop 'task:'"
        )
    if dataset is not None and dataset.targets is not None and task == "classification":
        raise DatasetError(
            f"dataset {dataset.name!r} (source {dataset.source}) yields truth for {dataset.task!r}, not class labels; "
            f"set 'task: {dataset.task}' on model {case.model!r} (or use a model built for it)"
        )
    return task


def facts(artifact: ModelArtifact | None, dataset: Dataset | None) -> ModelFacts:
    """The artifact's size and its card's MFLOPs at the resolution the dataset gives."""
    if artifact is None or artifact.format == "kernel":
        return ModelFacts()
    size = artifact.path.stat().st_size if artifact.path.is_file() else None
    mflops = None
    if artifact.card is not None and dataset is not None:
        resolution = int(dataset.x_eval.shape[-1]) if dataset.x_eval.ndim == 4 else None
        mflops = artifact.card.mflops_at(resolution)
    sample = (
        tuple(int(v) for v in dataset.x_eval.shape[1:]) if dataset is not None and dataset.x_eval.ndim > 1 else None
    )
    return ModelFacts(size, mflops, onnx_of(artifact), sample)
