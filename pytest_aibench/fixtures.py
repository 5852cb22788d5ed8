"""Fixtures for manifest items and hand-written tests alike.

Manifest items get ``aibench_case`` by parametrisation; a hand-written test gets it from
``@pytest.mark.aibench(model=..., framework=..., quantization=..., dataset=..., **settings)``
(defaults: the shipped ``tinycnn-digits`` on onnxruntime in fp32). Every other fixture derives
from the case, so both kinds load data and models the same way, at setup, never at collection.
"""

from __future__ import annotations

import importlib
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_aibench.manifest.case import Case
from pytest_aibench.state import state

LOAD_MB = pytest.StashKey[float]()
PEAK_RESET = pytest.StashKey[bool]()
ARTIFACT = pytest.StashKey[Any]()


def fail(message: str) -> None:
    """Fail the item with ``message`` alone: no traceback and no "during handling" chain."""
    raise pytest.fail.Exception(message, pytrace=False) from None


def seed_everything(seed: int) -> None:
    """Seed python, numpy and (if already imported: we never import it just to seed) torch."""
    random.seed(seed)
    import numpy as np  # noqa: PLC0415

    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def adhoc_case(request: pytest.FixtureRequest) -> Case:
    """The case of a hand-written test, from its ``aibench`` marker."""
    from pytest_aibench.manifest.model import DatasetSpec, ModelSpec, Settings, Suite  # noqa: PLC0415
    from pytest_aibench.zoo.cards import CardError, find_card  # noqa: PLC0415

    marker = request.node.get_closest_marker("aibench")
    kw = dict(marker.kwargs) if marker else {}
    model = kw.pop("model", "tinycnn-digits")
    framework = kw.pop("framework", "onnxruntime")
    quantization = kw.pop("quantization", "fp32")
    dataset = kw.pop("dataset", None)
    unknown = [k for k in kw if k not in Settings.names()]
    if unknown:
        raise pytest.UsageError(f"{request.node.nodeid}: unknown aibench marker argument(s) {', '.join(unknown)}; "
                                f"expected model, framework, quantization, dataset or a setting "
                                f"({', '.join(Settings.names())})")
    if dataset is None:
        try:
            d = find_card(model).dataset
        except CardError:
            d = {"source": "digits"}
        dataset = DatasetSpec(name=d.get("source", "digits"), source=d.get("source", "digits"),
                              eval_fraction=d.get("eval_fraction", 0.25), split_seed=d.get("split_seed", 0),
                              params=d.get("params", {}))
    elif isinstance(dataset, str):
        dataset = DatasetSpec(name=dataset, source=dataset)
    label = request.node.name
    file = request.node.nodeid.split("::")[0]
    axes = (("framework", framework), ("quantization", quantization), ("paradigm", "single"))
    suite = Suite(name=file, version="", path=Path(str(request.node.path)), sha256="",
                  datasets={dataset.name: dataset},
                  models={label: ModelSpec(name=label, dataset=dataset.name, zoo=model)},
                  axes=tuple((k, (v,)) for k, v in axes), settings=kw)
    return Case(file, label, axes, (), "-".join(v for _, v in axes), suite)


@pytest.fixture
def aibench_case(request: pytest.FixtureRequest) -> Case:
    """The combination this item measures (suite, model, framework, quantization, paradigm, ...)."""
    return adhoc_case(request)


@pytest.fixture
def aibench_seed(request: pytest.FixtureRequest, aibench_case: Case) -> int:
    """This item's seed, derived from ``--aibench-seed`` and the case id; every RNG is seeded with it."""
    seed = aibench_case.seed(state(request.config).seed)
    seed_everything(seed)
    return seed


@pytest.fixture
def aibench_dataset(request: pytest.FixtureRequest, aibench_case: Case, aibench_seed: int) -> Any:
    """The case's dataset, split by its own split seed (loaded once per process, read-only)."""
    from pytest_aibench.data import DatasetError  # noqa: PLC0415

    suite = aibench_case.suite
    assert suite is not None
    if not suite.models[aibench_case.model].dataset:  # a kernel: nothing to evaluate on
        return None
    spec = suite.datasets[suite.models[aibench_case.model].dataset]
    st = state(request.config)
    resolution = aibench_case.settings(st.profile).resolution
    if resolution is not None:
        from dataclasses import replace  # noqa: PLC0415

        from pytest_aibench.registry import DATASETS  # noqa: PLC0415

        if not getattr(DATASETS.get(spec.source), "resizable", False):
            fail(f"{aibench_case.id}: setting resolution={resolution} but dataset source {spec.source!r} "
                 "cannot render or resize images")
        spec = replace(spec, params={**spec.params, "size": resolution})
    try:
        return st.dataset(spec)
    except (DatasetError, FileNotFoundError) as exc:
        fail(f"dataset {spec.name!r} ({suite.path}): {exc}")


@pytest.fixture
def aibench_node(request: pytest.FixtureRequest, aibench_case: Case) -> Any:
    """The node the model runs on (the host, with the case's thread setting)."""
    from pytest_aibench.sim.node import Node, host_threads  # noqa: PLC0415

    threads = aibench_case.settings(state(request.config).profile).threads or host_threads()
    suite = aibench_case.suite
    topology = suite.topologies.get(aibench_case.axis("topology")) if suite and aibench_case.axis("topology") else None
    if topology is not None and topology.edge.threads:  # the model runs on the host under the edge's thread cap
        threads = min(threads, topology.edge.threads)
    return Node(threads=threads)


@pytest.fixture
def aibench_model(request: pytest.FixtureRequest, aibench_case: Case) -> Any:
    """The verified model artifact for the case; skips when the runtime is missing or cannot run it."""
    from pytest_aibench.artifact import ArtifactError, NotAvailable, resolve  # noqa: PLC0415
    from pytest_aibench.files import ChecksumError, verify  # noqa: PLC0415
    from pytest_aibench.registry import UnknownName  # noqa: PLC0415
    from pytest_aibench.runtimes import missing  # noqa: PLC0415

    case = aibench_case
    st = state(request.config)
    try:
        runner = st.runner(case.framework)
    except UnknownName as exc:
        fail(str(exc))
    why = missing(runner)
    if why:
        pytest.skip(why)
    assert case.suite is not None
    spec = case.suite.models[case.model]
    try:
        artifact = resolve(spec, case.framework, case.quantization, runner)
        if artifact.format == "kernel":
            request.node.stash[ARTIFACT] = artifact
            return artifact
        if not artifact.path.is_file():
            raise ArtifactError(f"model file {artifact.path} not found")
        verify(artifact.path, artifact.sha256, f"model {case.model!r} artifact")
    except NotAvailable as exc:
        pytest.skip(str(exc))
    except (ArtifactError, ChecksumError) as exc:
        fail(f"{case.id}: {exc}")
    request.node.stash[ARTIFACT] = artifact
    return artifact


@pytest.fixture
def aibench_runner(request: pytest.FixtureRequest, aibench_case: Case, aibench_model: Any, aibench_node: Any,
                   aibench_seed: int) -> Iterator[Any]:
    """The model prepared on its runtime (a RunnerSession: ``adapt(x)``, ``infer(batch)``)."""
    from pytest_aibench.artifact import ArtifactError, NotAvailable  # noqa: PLC0415
    from pytest_aibench.measure.memory import reset_peak, rss_mb  # noqa: PLC0415

    st = state(request.config)
    runner = st.runner(aibench_case.framework)
    if st.isolated(aibench_case.suite):  # prepared in the item's child process, not here
        from pytest_aibench.isolate import Isolated  # noqa: PLC0415

        yield Isolated(runner, aibench_model, aibench_node, aibench_case.settings(st.profile),
                       st.timeout(aibench_case.suite))
        return
    try:  # import the runtime first so the RSS delta below is the model's, not the runtime's import
        importlib.import_module(runner.module)
    except ImportError as exc:
        pytest.skip(f"{runner.name} failed to import ({exc}): {runner.install_hint}")
    seed_everything(aibench_seed)  # again: the runtime (torch) may have been imported just now
    request.node.stash[PEAK_RESET] = reset_peak()  # the item's peak memory starts here
    before = rss_mb()
    try:
        session = runner.prepare(aibench_model, aibench_node, aibench_case.settings(st.profile))
    except ArtifactError as exc:
        fail(f"{aibench_case.id}: {exc}")
    except NotAvailable as exc:
        pytest.skip(str(exc))
    except ImportError as exc:
        pytest.skip(f"{runner.name} failed to import ({exc}): {runner.install_hint}")
    except Exception as exc:  # a runner's own failure to prepare: an item error, never the session's
        first = (str(exc).strip().splitlines() or [""])[0]
        fail(f"{aibench_case.id}: {runner.name} could not prepare {aibench_model.path}: {type(exc).__name__}: {first}")
    request.node.stash[LOAD_MB] = max(0.0, rss_mb() - before)
    yield session
    session.close()


@pytest.fixture
def aibench_topology(request: pytest.FixtureRequest, aibench_case: Case) -> Any:
    """The case's simulated edge-cloud topology (the manifest's, else a Raspberry-Pi-class edge and a
    cloud server over a 10 ms, 100 Mbit/s link)."""
    from pytest_aibench.item import _topology_and_params  # noqa: PLC0415

    return _topology_and_params(aibench_case)[0]


@pytest.fixture
def edge_node(aibench_topology: Any) -> Any:
    """The topology's edge node profile (compute, memory, power, price)."""
    return aibench_topology.edge


@pytest.fixture
def cloud_node(aibench_topology: Any) -> Any:
    """The topology's cloud node profile."""
    return aibench_topology.cloud


@pytest.fixture
def aibench(request: pytest.FixtureRequest, aibench_case: Case) -> Any:
    """Measure a model like pytest-benchmark's ``benchmark`` measures a function, into the same
    leaderboard: ``result = aibench(aibench_runner, aibench_dataset)`` or ``aibench(fn, dataset)``
    where ``fn`` maps a batch to class scores. Returns the :class:`Result`."""
    from pytest_aibench.item import Measurer  # noqa: PLC0415

    return Measurer(request, aibench_case)
