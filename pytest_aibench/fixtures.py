"""Fixtures: what every item is set up with, manifest items and hand-written tests alike.

A manifest item's ``aibench_case`` comes from its parametrisation; a hand-written test's from its
``@pytest.mark.aibench(model=..., framework=..., quantization=..., dataset=..., **settings)``
marker (defaults: the shipped ``tinycnn-digits`` on onnxruntime in fp32). The other fixtures derive
from the case and build the item's :class:`~pytest_aibench.run.plan.Plan` at setup, so data and
models load (and fail) at setup, never at collection, and a conftest may override any of them
(``aibench_node`` say) for manifest items too.

This module is imported in every pytest session: everything heavy comes through ``_lazy``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aibench import progress
from pytest_aibench._lazy import lazy
from pytest_aibench.outcomes import fail
from pytest_aibench.state import state

if TYPE_CHECKING:
    from pytest_aibench import artifact, data, files, handwritten, registry, runtimes
    from pytest_aibench.builder import cache
    from pytest_aibench.core.case import Case
    from pytest_aibench.core.model import Settings
    from pytest_aibench.run import against, measure, places
    from pytest_aibench.run import plan as plans
    from pytest_aibench.run.plan import Plan
    from pytest_aibench.sim import node as nodes
    from pytest_aibench.sim.topology import Topology
else:
    against = lazy("pytest_aibench.run.against")
    artifact = lazy("pytest_aibench.artifact")
    data = lazy("pytest_aibench.data")
    handwritten = lazy("pytest_aibench.handwritten")
    measure = lazy("pytest_aibench.run.measure")
    nodes = lazy("pytest_aibench.sim.node")
    places = lazy("pytest_aibench.run.places")
    plans = lazy("pytest_aibench.run.plan")
    runtimes = lazy("pytest_aibench.runtimes")
    files = lazy("pytest_aibench.files")
    registry = lazy("pytest_aibench.registry")
    cache = lazy("pytest_aibench.builder.cache")


@pytest.fixture
def aibench_case(request: pytest.FixtureRequest) -> Case:
    """The combination this item measures (suite, model, framework, quantization, paradigm, ...)."""
    return handwritten.case_from_marker(request)


@pytest.fixture
def aibench_settings(request: pytest.FixtureRequest, aibench_case: Case) -> Settings:
    """The item's settings, resolved once: defaults < suite < model < profile < axes and variables."""
    return aibench_case.settings(state(request.config).profile)


@pytest.fixture
def aibench_seed(request: pytest.FixtureRequest, aibench_case: Case) -> int:
    """This item's seed, derived from ``--aibench-seed`` and the case id; every RNG is seeded with it."""
    seed = aibench_case.seed(state(request.config).seed)
    measure.seed_everything(seed)
    return seed


@pytest.fixture
def aibench_dataset(aibench_case: Case, aibench_settings: Settings) -> Any:
    """The case's dataset, split by its own split seed (loaded once per process, read-only)."""
    assert aibench_case.suite is not None
    try:
        spec = plans.dataset_spec(aibench_case, aibench_settings)
    except data.DatasetError as exc:
        fail(f"{aibench_case.id}: {exc}")
    if spec is None:  # a kernel: nothing to evaluate on
        return None
    try:
        return data.load(spec)
    except (data.DatasetError, FileNotFoundError) as exc:
        fail(f"dataset {spec.name!r} ({aibench_case.suite.path}): {exc}")


@pytest.fixture
def aibench_topology(aibench_case: Case) -> Topology:
    """The case's simulated edge-cloud topology (the manifest's, else a Raspberry-Pi-class edge and a
    cloud server over a 10 ms, 100 Mbit/s link)."""
    return plans.topology_of(aibench_case)


@pytest.fixture
def edge_node(aibench_topology: Topology) -> Any:
    """The topology's edge node profile (compute, memory, power, price)."""
    return aibench_topology.edge


@pytest.fixture
def cloud_node(aibench_topology: Topology) -> Any:
    """The topology's cloud node profile."""
    return aibench_topology.cloud


@pytest.fixture
def aibench_node(aibench_case: Case, aibench_settings: Settings, aibench_topology: Topology) -> Any:
    """The node the model runs on (the host, with the case's thread setting, capped by the edge's)."""
    threads = aibench_settings.threads or nodes.host_threads()
    if aibench_case.axis("topology") and aibench_topology.edge.threads:
        threads = min(threads, aibench_topology.edge.threads)
    return nodes.Node(threads=threads)


@pytest.fixture
def aibench_model(request: pytest.FixtureRequest, aibench_case: Case) -> Any:
    """The verified model artifact for the case; skips when the runtime is missing or cannot run it."""
    case = aibench_case
    try:
        runner = state(request.config).runner(case.framework)
    except registry.UnknownName as exc:
        fail(str(exc))
    why = runtimes.missing(runner)
    if why:
        pytest.skip(why)
    assert case.suite is not None
    spec = case.suite.models[case.model]
    if cache.is_published(spec.zoo):  # a published-size model: built on first use (once; xdist workers wait)
        assert spec.zoo is not None
        try:
            cache.ensure(
                spec.zoo,
                progress.for_build(request.config, f"aibench build {spec.zoo}"),
                session=state(request.config).run_id,
            )
        except (cache.CardError, OSError) as exc:
            fail(f"{case.id}: building published model {spec.zoo!r} failed: {exc}")
    try:
        found = artifact.resolve(spec, case.framework, case.quantization, runner)
        if found.format != "kernel":
            if not found.path.is_file():
                raise artifact.ArtifactError(f"model file {found.path} not found")
            files.verify(found.path, found.sha256, f"model {case.model!r} artifact")
    except artifact.NotAvailable as exc:
        pytest.skip(str(exc))
    except (artifact.ArtifactError, files.ChecksumError) as exc:
        fail(f"{case.id}: {exc}")
    return found


@pytest.fixture
def aibench_plan(
    request: pytest.FixtureRequest,
    aibench_case: Case,
    aibench_seed: int,
    aibench_settings: Settings,
    aibench_dataset: Any,
    aibench_model: Any,
    aibench_node: Any,
    aibench_topology: Topology,
) -> Plan:
    """Everything the item's measurement needs, frozen: the same plan runs here, in a child process
    or on a cluster worker."""
    st = state(request.config)
    runner = st.runner(aibench_case.framework)
    ref = plans.RunnerRef.of(aibench_case.framework, runner)
    ref.remember(runner)
    opt = request.config.option
    paired = (
        None
        if st.reference is None
        else against.against_for(
            st.reference,
            aibench_case,
            aibench_model,
            runner,
            request.config.rootpath,
            request.config.invocation_params.dir,
            st.knows_runner,
            st.rules,
            opt.aibench_against_python,
            aibench_settings.max_pairs,
            aibench_settings.max_pair_seconds,
            st.profile,
        )
    )
    return plans.Plan(
        aibench_case,
        aibench_seed,
        aibench_settings,
        None if aibench_dataset is None else plans.dataset_spec(aibench_case, aibench_settings),
        aibench_model,
        aibench_node,
        aibench_topology,
        ref,
        plans.ItemRef(request.node.nodeid, st.run_dir, st.profile, st.worker_id, st.worker_count),
        plans.facts(aibench_model, aibench_dataset),
        plans.paradigm_params(aibench_case),
        max(1, opt.aibench_repeat),
        paired,
        _task(aibench_case, aibench_model, aibench_dataset),
    )


def _task(case: Case, model: Any, dataset: Any) -> str:
    try:
        return plans.task_for(case, model, dataset)
    except data.DatasetError as exc:
        fail(f"{case.id}: {exc}")
        raise  # unreachable: fail() raises


@pytest.fixture
def aibench_prepared(request: pytest.FixtureRequest, aibench_plan: Plan) -> Iterator[Any]:
    """The plan's model prepared on its runtime in this process, at setup (closed at teardown)."""
    plan = aibench_plan
    runner = plan.runner.get()
    try:  # import the runtime first, so the memory the model adds is the model's, not the runtime's import
        importlib.import_module(runner.module)
    except ImportError as exc:
        pytest.skip(f"{runner.name} failed to import ({exc}): {runner.install_hint}")
    measure.seed_everything(plan.seed)  # again: the runtime (torch) may have been imported just now
    try:
        prepared = measure.prepare(plan, runner)
    except artifact.ArtifactError as exc:
        fail(f"{plan.case.id}: {exc}")
    except artifact.NotAvailable as exc:
        pytest.skip(str(exc))
    except ImportError as exc:
        pytest.skip(f"{runner.name} failed to import ({exc}): {runner.install_hint}")
    except (Exception, SystemExit) as exc:  # a runner's own failure (even sys.exit): an item error, never the session's
        first = (str(exc).strip().splitlines() or [""])[0]
        fail(f"{plan.case.id}: {runner.name} could not prepare {plan.artifact.path}: {type(exc).__name__}: {first}")
    yield prepared
    prepared.session.close()


@pytest.fixture
def aibench_place(request: pytest.FixtureRequest, aibench_plan: Plan) -> Any:
    """Where the item is measured: this process (with its model prepared at setup), a child process
    (--aibench-isolate, a timeout) or a cluster worker (--aibench-dispatch)."""
    st = state(request.config)
    suite = aibench_plan.case.suite
    if st.dispatch:
        return places.Worker(st.backend)
    if st.isolated(suite) or aibench_plan.runs_user_code:
        # a factory or stage runs the suite's own code: in a child, so an abort, exit or segfault there fails
        # this item only (and a process that ends with exit code 0 still fails it: no result came back)
        return places.Child(st.timeout(suite))
    return places.Local(
        measure.Here(
            request.getfixturevalue("aibench_prepared"),
            st.roles(),
            st.progress_for(aibench_plan.case.id),
            announce=progress.for_build(request.config, aibench_plan.case.id),
        )
    )


@pytest.fixture
def aibench_runner(request: pytest.FixtureRequest, aibench_plan: Plan, aibench_place: Any) -> Any:
    """The model prepared on its runtime (``adapt(x)``, ``infer(batch)``). Where items are measured
    elsewhere (--aibench-isolate), a session that prepares itself here only if the test uses it; passed
    to ``aibench(...)`` it is measured where the place measures."""
    here = getattr(aibench_place, "here", None)
    if here is not None and here.prepared is not None:
        return here.prepared.session
    return handwritten.DeferredSession(aibench_plan)


@pytest.fixture
def aibench(request: pytest.FixtureRequest, aibench_plan: Plan) -> Any:
    """Measure a model like pytest-benchmark's ``benchmark`` measures a function, into the same
    leaderboard: ``result = aibench(aibench_runner, aibench_dataset)`` or ``aibench(fn, dataset)``
    where ``fn`` maps a batch to class scores. Returns the :class:`Result`."""
    return handwritten.Measurer(request, aibench_plan)
