"""The one measuring function: a :class:`Plan` in, a :class:`Result` out, in whatever process runs it.

It seeds, loads the dataset (once per process), prepares the runner (unless the caller prepared it
at setup), runs the paradigm ``plan.repeats`` times, and builds the item's Result: the only place a
measured Result is made. Nothing here touches pytest.
"""

from __future__ import annotations

import os
import random
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench import data, tasks
from pytest_aibench.artifact import ArtifactError, resolve
from pytest_aibench.cluster.backend import Backend, InProcess
from pytest_aibench.core.result import Result
from pytest_aibench.data import images
from pytest_aibench.files import verify
from pytest_aibench.judge.metrics import compute_all
from pytest_aibench.machine import cpu_summary
from pytest_aibench.measure import Measurement
from pytest_aibench.measure.memory import peak_rss_mb, reset_peak, rss_mb
from pytest_aibench.paradigms import PARADIGMS, Companion, ModelFacts, ParadigmContext
from pytest_aibench.progress import Progress
from pytest_aibench.run import paired, seeds
from pytest_aibench.runtimes import Renews
from pytest_aibench.sim.roofline import onnx_of
from pytest_aibench.versions import version_of

if TYPE_CHECKING:
    from pytest_aibench.core.case import Case
    from pytest_aibench.run.plan import Plan
    from pytest_aibench.runtimes import Runner, RunnerSession


def seed_everything(seed: int) -> None:
    """Seed python, numpy and (if already imported: we never import it just to seed) torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


@dataclass
class Prepared:
    """A session prepared for a plan, and what preparing it cost."""

    session: RunnerSession
    load_mb: float | None = None  # resident memory the model added
    peak_reset: bool = False  # the process's high-water mark was reset before preparing
    baseline_mb: float | None = None  # the process's RSS when the item began (what earlier items left)


def prepare(plan: Plan, runner: Runner | None = None) -> Prepared:
    """Prepare the plan's model on its runtime here; the item's peak memory starts now."""
    runner = runner or plan.runner.get()
    reset = reset_peak()
    before = rss_mb()
    session = runner.prepare(plan.artifact, plan.node, plan.settings)
    return Prepared(session, max(0.0, rss_mb() - before), reset, before)


class SuiteModels:
    """The suite's other models, resolved and prepared on the plan's runtime in fp32, wherever the
    plan runs (the suite travels with the plan's case)."""

    def __init__(self, plan: Plan, runner: Runner):
        self._plan, self._runner = plan, runner

    def prepare(self, name: str) -> Companion:
        case = self._plan.case
        assert case.suite is not None
        if name not in case.suite.models:
            raise ArtifactError(f"no model {name!r} in the suite (it has {', '.join(case.suite.models)})")
        artifact = resolve(case.suite.models[name], case.framework, "fp32", self._runner)
        verify(artifact.path, artifact.sha256, f"model {name!r} artifact")
        card = artifact.card
        session = self._runner.prepare(artifact, self._plan.node, self._plan.settings)
        return Companion(
            session,
            artifact,
            ModelFacts(
                artifact.path.stat().st_size,
                card.mflops_at(None) if card else None,
                onnx_of(artifact),
                self._plan.facts.sample,
            ),
        )


@dataclass
class Here:
    """What only the process measuring can give: a session prepared at setup, the backend placing
    topology roles, the terminal's progress."""

    prepared: Prepared | None = None
    backend: Backend = field(default_factory=InProcess)
    progress: Progress = field(default_factory=lambda: Progress(quiet=True))
    #: what a user should hear before a long wait, at the default verbosity (a paired item's expected time)
    announce: Progress = field(default_factory=lambda: Progress(quiet=True))
    #: latency rounds may prepare fresh sessions of the plan's artifact (not when measuring a callable)
    renewable: bool = True
    dataset: Any = None  # a Dataset the caller loaded itself (a hand-written test's own)


def measure(plan: Plan, here: Here | None = None) -> Result:
    """Measure ``plan`` in this process: its Result (raises ArtifactError / NotAvailable for an item
    that cannot be measured; the caller decides what that means)."""
    here = here or Here()
    seed_everything(plan.seed)
    dataset = here.dataset if here.dataset is not None else data.load(plan.dataset) if plan.dataset else None
    if dataset is not None and plan.case.suite is not None:  # image files: decoded as this model declares
        spec = plan.case.suite.models[plan.case.model]
        inp = plan.artifact.input if plan.artifact is not None else None
        dataset = images.bind(dataset, spec.preprocess, inp.shape if inp else None, inp.layout if inp else "NCHW")
    runner = plan.runner.get()
    prepared = here.prepared or prepare(plan, runner)
    t0 = time.perf_counter()
    try:
        if plan.settings.seeds > 1 and getattr(PARADIGMS.get(plan.case.paradigm), "learns", False):
            result = _over_seeds(plan, dataset, runner, prepared, here)
        else:
            measurements = [_once(plan, dataset, runner, prepared.session, here) for _ in range(max(1, plan.repeats))]
            result = _summarize(plan, measurements, prepared, dataset)
        if plan.against is not None:
            _against(plan, runner, prepared.session, dataset, result, here.announce)
    finally:
        if here.prepared is None:
            prepared.session.close()
    result.duration_s = time.perf_counter() - t0
    return result


def _summarize(plan: Plan, measurements: list[Measurement], prepared: Prepared, dataset: Any) -> Result:
    measurement = measurements[0]
    if len(measurements) > 1:
        hashes = [m.info.get("prediction_hash") for m in measurements]
        measurement.metrics.update({"repro.repeats": len(measurements), "repro.identical": len(set(hashes)) == 1})
        measurement.info["repro"] = {"prediction_hashes": hashes}
    measurement.load_rss_mb = prepared.load_mb if measurement.load_rss_mb is None else measurement.load_rss_mb
    measurement.info["determinism"] = determinism()
    measurement.info["peak_memory"] = (
        "this item's (VmHWM reset at setup); memory.item_peak_mb is its growth over the RSS it began with"
        if prepared.peak_reset
        else "the process's so far (ru_maxrss): no figure of the item's own"
    )
    if prepared.peak_reset and measurement.baseline_rss_mb is None:
        measurement.baseline_rss_mb = prepared.baseline_mb
    return result_of(plan, measurement, dataset, options_of(prepared.session))


def _over_seeds(plan: Plan, dataset: Any, runner: Runner, prepared: Prepared, here: Here) -> Result:
    """``seeds: N``: the learning paradigm once per seed; the Result's metrics are the means, with the
    headline metrics' 95 % intervals, and its predictions the first seed's."""
    chosen = seeds.seed_list(plan.seed, plan.settings.seeds)
    results = []
    for i, s in enumerate(chosen):
        here.progress.note(f"seed {i + 1}/{len(chosen)}: {s}")
        results.append(
            _summarize(
                replace(plan, seed=s),
                [_once(replace(plan, seed=s), dataset, runner, prepared.session, here)],
                prepared,
                dataset,
            )
        )
    first = results[0]
    first.metrics, first.info["seeds"] = seeds.combine([r.metrics for r in results], chosen)
    first.seed = plan.seed
    return first


def _against(
    plan: Plan, runner: Runner, session: RunnerSession, dataset: Any, result: Result, progress: Any = None
) -> None:
    """``--aibench-against``: the reference side measured beside the candidate, paired; or why not."""
    against = plan.against
    assert against is not None
    why = (
        against.source
        if against.artifact is None
        else f"the {plan.case.paradigm} paradigm is not timed call by call"
        if not getattr(PARADIGMS.get(plan.case.paradigm), "pairs", False)
        else "LoadGen scenarios drive their own timing"
        if plan.case.scenario
        else None
    )
    if why is None:
        try:
            paired.compare(plan, against, runner, session, dataset, result, progress)
            return
        except Exception as exc:  # a runtime's own error types (ORT's Fail, torch's) as well as ours
            # the candidate's measurement stands; the reference side's failure is reported with it
            why = f"the reference side failed: {type(exc).__name__}: {str(exc).strip()[:600]}"
    result.info["against"] = {**against.describe(), "status": f"not compared: {why}"}
    result.flags.append(f"not compared with {against.ref}: {why}")


def _once(plan: Plan, dataset: Any, runner: Runner, session: RunnerSession, here: Here) -> Measurement:
    seed_everything(plan.seed)
    ctx = ParadigmContext(
        plan.case,
        plan.settings,
        dataset,
        session,
        plan.node,
        plan.seed,
        plan.topology,
        dict(plan.params),
        runner=runner,
        artifact=plan.artifact,
        facts=plan.facts,
        models=SuiteModels(plan, runner),
        backend=here.backend,
        item_dir=plan.item_dir,
        progress=here.progress,
        fresh_session=_fresh(plan, runner, session) if here.renewable else None,
        task=plan.task,
    )
    if hasattr(here.backend, "placements"):
        here.backend.placements.clear()  # each item records its own placements
    measurement = PARADIGMS.get(plan.case.paradigm).run(ctx)
    if measurement.peak_rss_mb is None:
        measurement.peak_rss_mb = peak_rss_mb()
    if tasks.is_dense(plan.task) and dataset is not None:
        measurement.accuracy_na = measurement.accuracy_na or untrained(plan)
        tasks.finish(plan.task, measurement, dataset, fp32_quality(plan, dataset, measurement))
    return measurement


def _fresh(plan: Plan, runner: Runner, session: RunnerSession) -> Any:
    """How a latency round gets its own session: re-instantiated from the loaded model where the session
    can (:class:`~pytest_aibench.runtimes.Renews`), else prepared again."""
    if isinstance(session, Renews):
        return session.renew
    return lambda: runner.prepare(plan.artifact, plan.node, plan.settings)


def untrained(plan: Plan) -> str | None:
    card = plan.artifact.card if plan.artifact is not None else None
    if card is not None and card.data.get("trained") is False:
        return (
            "not applicable: seeded untrained weights (their card says trained: false); "
            "latency, throughput, memory and effective GFLOP/s are measured"
        )
    return None


def fp32_quality(plan: Plan, dataset: Any, m: Measurement) -> float | None:
    """The model's fp32 headline from its card, where the item evaluated exactly the card's samples."""
    card = plan.artifact.card if plan.artifact is not None else None
    if card is None or card.data.get("task") != plan.task or m.labels is None:
        return None
    built = card.data.get("dataset", {})
    if built.get("sha256") != dataset.content_hash or built.get("eval") != len(m.labels):
        return None
    value = card.data.get("accuracy", {}).get("torch/fp32")
    return float(value) if isinstance(value, (int, float)) else None


def options_of(session: Any) -> dict[str, Any]:
    """How the runtime was configured, as the session records it (``options``; ``settings`` was this
    attribute's name in 0.1 and is still read, with a DeprecationWarning)."""
    options = getattr(session, "options", None)
    if options is None and isinstance(getattr(session, "settings", None), dict):
        warnings.warn(
            f"{type(session).__name__}.settings is deprecated: name the runner session's recorded "
            "configuration `options` (pytest-aibench 0.2)",
            DeprecationWarning,
            stacklevel=2,
        )
        options = session.settings
    return dict(options) if isinstance(options, dict) else {}


def model_facts(measurement: Measurement, plan: Plan, dataset: Any) -> None:
    """What the artifact and its card know that metrics need: size on disk, MFLOPs at the resolution
    run, and the fp32 model's predictions on these very samples."""
    if measurement.model_bytes is None:
        measurement.model_bytes = plan.facts.bytes
    if measurement.mflops is None:
        measurement.mflops = plan.facts.mflops
    card = plan.artifact.card
    if card is not None and card.data.get("trained") is False:
        measurement.accuracy_na = untrained(plan)
        measurement.info["accuracy"] = measurement.accuracy_na
        return
    if card is None or dataset is None:
        return
    ref = card.reference(dataset.content_hash)
    n = len(measurement.labels) if measurement.labels is not None else 0
    if ref is not None and len(ref) >= n:
        measurement.reference = ref[:n]
    elif measurement.predictions is not None:
        measurement.flags.append("no fp32 reference for this dataset: accuracy loss not computed")


def flags_of(plan: Plan) -> list[str]:
    if plan.item.workers > 1:
        return [f"concurrent: latency measured beside {plan.item.workers - 1} other xdist worker(s)"]
    return []


def result_of(plan: Plan, measurement: Measurement, dataset: Any, runner_options: dict[str, Any]) -> Result:
    """The item's Result from its plan and what was measured."""
    case = plan.case
    suite = case.suite
    assert suite is not None
    model_facts(measurement, plan, dataset)
    metrics = compute_all(suite.metrics + suite.models[case.model].metrics, measurement)
    info = dict(measurement.info)
    machine = info.pop("machine", None) or cpu_summary()
    result = unmeasured(case, plan.item.nodeid, plan.seed, plan.item.profile, plan.item.worker)
    result.metrics = metrics
    result.dataset = dataset.describe() if dataset is not None else {}
    result.artifact = plan.artifact.describe()
    package = getattr(plan.runner.get(), "package", None)  # a vendor's runner: the distribution to install
    shipped = {"package": package, "package_version": version_of(package)} if package else {}
    result.runner = {"name": case.framework, **shipped, **runner_options}
    if isinstance(info.get("threads_busy"), dict):  # beside the threads asked for, those busy while timed
        result.runner["threads_busy"] = info["threads_busy"].get("active")
    result.node = plan.node.describe()
    result.settings = {k: getattr(plan.settings, k) for k in plan.settings.names()}
    result.info = {**info, "seed_keys": {k: v for k, v in case.seed_keys()}}
    result.samples = {
        "latency_ns": list(measurement.latency_ns),
        **({"round_medians_ns": list(measurement.round_medians_ns)} if measurement.round_medians_ns else {}),
    }
    notes = list(getattr(dataset, "meta", {}).get("notes", ())) if dataset is not None else []
    result.flags = flags_of(plan) + notes + list(measurement.flags)
    result.machine = machine
    return result


def unmeasured(case: Case, nodeid: str, seed: int | None, profile: str | None, worker: str | None) -> Result:
    """A Result that says which case an item was, before (or without) any measurement."""
    d = case.describe()
    suite = case.suite
    return Result(
        id=d["id"],
        suite=d["suite"],
        model=d["model"],
        axes=d["axes"],
        nodeid=nodeid,
        suite_version=suite.version if suite else "",
        manifest=nodeid.split("::")[0],
        variables=d["variables"],
        seed=seed,
        profile=profile if suite is not None and profile in suite.profiles else None,
        worker=worker,
    )


def determinism() -> dict[str, Any]:
    """Settings that decide whether predictions repeat bit for bit: recorded with every item."""
    out: dict[str, Any] = {
        k: os.environ.get(k)
        for k in (
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "ONEDNN_MAX_CPU_ISA",
            "DNNL_MAX_CPU_ISA",
            "PYTHONHASHSEED",
            "ATEN_CPU_CAPABILITY",
            "MKL_CBWR",
        )
        if os.environ.get(k) is not None
    }
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        out.update(
            {
                "torch_threads": torch.get_num_threads(),
                "torch_interop_threads": torch.get_num_interop_threads(),
                "torch_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                "onednn": bool(torch.backends.mkldnn.is_available()),
            }
        )
    return out
