"""The body of every benchmark item: run the paradigm, compute metrics, record, check gates."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_aibench.artifact import ArtifactError, NotAvailable
from pytest_aibench.manifest.case import Case
from pytest_aibench.fixtures import ARTIFACT, LOAD_MB, PEAK_RESET, fail
from pytest_aibench.report.result import Result
from pytest_aibench.progress import for_item
from pytest_aibench.state import RESULT, state


def _flags(config: pytest.Config) -> list[str]:
    st = state(config)
    if st.worker_count > 1:
        return [f"concurrent: latency measured beside {st.worker_count - 1} other xdist worker(s)"]
    return []


def model_facts(measurement: Any, artifact: Any, dataset: Any) -> None:
    """What the artifact and its card know that metrics need: size on disk, MFLOPs at the
    resolution run, and the fp32 model's predictions on these very samples."""
    if artifact is None:
        return
    if artifact.path.is_file():
        measurement.model_bytes = artifact.path.stat().st_size
    card = artifact.card
    if card is None or dataset is None:
        return
    resolution = int(dataset.x_eval.shape[-1]) if dataset.x_eval.ndim == 4 else None
    measurement.mflops = card.mflops_at(resolution)
    ref = card.reference(dataset.content_hash)
    n = len(measurement.labels) if measurement.labels is not None else 0
    if ref is not None and len(ref) >= n:
        measurement.reference = ref[:n]
    elif measurement.predictions is not None:
        measurement.flags.append("no fp32 reference for this dataset: accuracy loss not computed")


def build_result(item: pytest.Item, case: Case, seed: int, dataset: Any, node: Any, session: Any,
                 measurement: Any, artifact: Any = None) -> Result:
    from pytest_aibench.judge.metrics import compute_all  # noqa: PLC0415

    st = state(item.config)
    suite = case.suite
    assert suite is not None
    if measurement.load_rss_mb is None:
        measurement.load_rss_mb = item.stash.get(LOAD_MB, None)
    model_facts(measurement, artifact, dataset)
    metrics = compute_all(suite.metrics + suite.models[case.model].metrics, measurement)
    settings = case.settings(st.profile)
    info = dict(measurement.info)
    from pytest_aibench.machine import cpu_summary  # noqa: PLC0415

    machine = info.pop("machine", None) or cpu_summary()  # a child or a farm worker measured on its own CPU
    info["peak_memory"] = "this item's (VmHWM reset at setup)" if item.stash.get(PEAK_RESET, False) \
        else "the process's so far (ru_maxrss)"
    return Result(
        id=case.id, suite=case.suite_name, model=case.model, axes=case.describe()["axes"], nodeid=item.nodeid,
        suite_version=suite.version, manifest=item.nodeid.split("::")[0], variables=dict(case.variables), seed=seed,
        profile=st.profile if st.profile in suite.profiles else None, metrics=metrics,
        dataset=dataset.describe() if dataset is not None else {},
        artifact=artifact.describe() if artifact is not None else {},
        runner={"name": case.framework, **getattr(session, "settings", {})},
        node=node.describe() if node is not None else {},
        settings={k: getattr(settings, k) for k in settings.names()}, info=info,
        samples={"latency_ns": list(measurement.latency_ns),
                 **({"round_medians_ns": list(measurement.round_medians_ns)} if measurement.round_medians_ns else {})},
        flags=_flags(item.config) + list(measurement.flags), worker=st.worker_id, machine=machine)


def record(item: pytest.Item, result: Result) -> None:
    """Attach ``result`` to the item: it rides on the test report (xdist-safe) and its metrics
    become JUnit ``<property>`` elements."""
    item.config.hook.pytest_aibench_measured(item=item, result=result)
    item.stash[RESULT] = result
    for name, value in result.metrics.items():
        item.user_properties.append((f"aibench.{name}", value))


def check_gates(item: pytest.Item, case: Case, result: Result) -> list[str]:
    """Every gate's verdict into ``result.gates``; the failures as messages."""
    assert case.suite is not None
    failed = []
    for gate in case.suite.gates_for(case.model):
        value = result.metrics.get(gate.metric)
        ok = gate.check(value)
        result.gates.append({"metric": gate.metric, "op": gate.op, "limit": gate.limit, "value": value,
                             "passed": ok, "where": gate.where})
        if not ok:
            shown = "not measured" if value is None else f"{value:.6g}"
            failed.append(f"{gate.metric} = {shown}, required {gate.op} {gate.limit:g} (gate at {gate.where})")
    return ["gate failed: " + "; ".join(failed)] if failed else []


def check_regressions(item: pytest.Item, case: Case, result: Result) -> list[str]:
    """Judge ``result`` against its baseline counterpart with the command line's and the manifest's
    rules; record every verdict, fail the item on a regression."""
    st = state(item.config)
    if st.baseline is None:
        return []
    from pytest_aibench.judge.compare import judge  # noqa: PLC0415

    base = st.baseline.find(result)
    if base is None:
        result.info["baseline"] = {"path": str(st.baseline.path), "status": "new: not in the baseline"}
        return []
    rules = {r.metric: r for r in (case.suite.regressions_for(case.model) if case.suite else ())}
    rules.update({r.metric: r for r in st.rules})  # the command line overrides the manifest
    verdicts = [judge(r, base, result) for r in rules.values()]
    shown = ("accuracy", "latency.p50_ms", "latency.p99_ms", "throughput.ips", "vips")
    result.info["baseline"] = {
        "path": str(st.baseline.path), "status": "matched", "seed": base.seed,
        "metrics": {k: base.metrics[k] for k in shown if k in base.metrics},
        "verdicts": [{"rule": str(v.rule), "metric": v.rule.metric, "baseline": v.baseline, "current": v.current,
                      "change": v.change, "regressed": v.regressed, "inconclusive": v.inconclusive,
                      "evidence": v.evidence} for v in verdicts]}
    regressed = [v for v in verdicts if v.regressed]
    if not regressed:
        return []
    return [f"regression against {st.baseline.path.name}: " + " | ".join(v.message() for v in regressed)]


def run_case(request: pytest.FixtureRequest, case: Case, seed: int, dataset: Any, artifact: Any, node: Any,
             session: Any) -> Result:
    from pytest_aibench.registry import PARADIGMS  # noqa: PLC0415

    item = request.node
    st = state(item.config)
    settings = case.settings(st.profile)
    paradigm = PARADIGMS.get(case.paradigm)
    t0 = time.perf_counter()
    repeats = max(1, item.config.option.aibench_repeat)
    measurements = []
    try:
        for _ in range(repeats):
            measurements.append(_measure_once(item, case, settings, paradigm, dataset, artifact, node, session, seed))
    except ArtifactError as exc:  # the model does not fit the data: one message, no traceback
        fail(f"{case.id}: {exc}")
    except NotAvailable as exc:
        pytest.skip(str(exc))
    measurement = measurements[0]
    if repeats > 1:
        hashes = [m.info.get("prediction_hash") for m in measurements]
        measurement.metrics.update({"repro.repeats": repeats, "repro.identical": len(set(hashes)) == 1})
        measurement.info["repro"] = {"prediction_hashes": hashes}
    measurement.info["determinism"] = determinism()
    result = build_result(item, case, seed, dataset, node, session, measurement, artifact)
    result.duration_s = time.perf_counter() - t0
    record(item, result)
    failures = check_gates(item, case, result) + check_regressions(item, case, result)
    if failures:
        result.outcome, result.reason = "failed", "; ".join(failures)
        fail(f"aibench {result.reason}")
    if case.scenario and result.metrics.get("loadgen.valid") is False:
        why = f"LoadGen result INVALID: {result.metrics.get('loadgen.invalid_reason', 'see its logs')}"
        if settings.require_valid:
            result.outcome, result.reason = "failed", why
            fail(f"{case.id}: {why} (require_valid is set; logs: {measurement.info['loadgen']['logs']})")
        result.flags.append(why)
    return result


def _measure_once(item: pytest.Item, case: Case, settings: Any, paradigm: Any, dataset: Any, artifact: Any,
                  node: Any, session: Any, seed: int) -> Any:
    """One measurement, here or (isolation mode) in a child process; a crash or timeout there fails
    this item alone."""
    from pytest_aibench.isolate import ChildCrashed, ChildTimedOut, Isolated, run_isolated  # noqa: PLC0415
    from pytest_aibench.paradigms import ParadigmContext  # noqa: PLC0415

    st = state(item.config)
    extra = {"item_dir": st.item_dir(case.id), **_model_context(artifact, dataset)}
    topology, params = _topology_and_params(case)
    if st.backend is not None and hasattr(st.backend, "placements"):
        st.backend.placements.clear()  # each item records its own placements
    if isinstance(session, Isolated):
        job = {"case": case, "settings": settings, "dataset": dataset, "artifact": artifact, "node": node,
               "seed": seed, "extra": extra, "runner": session.runner, "paradigm": paradigm,
               "topology": topology, "params": params}
        if st.dispatch:
            return _dispatch(st, case, settings, job, session)
        try:
            measurement, recorded = run_isolated(job, session.timeout)
        except (ChildCrashed, ChildTimedOut) as exc:
            fail(f"{case.id}: {exc}")
        except RuntimeError as exc:
            fail(f"{case.id}: error in the isolated process: {exc}")
        session.settings = {**recorded, "isolated": "child process"}
        return measurement
    runner = st.runner(case.framework)
    extra["progress"] = for_item(item.config, case.id)
    extra["prepare_model"] = lambda name: _prepare_other(st, case, name, node, settings)
    extra["runner"] = runner
    extra["backend"] = st.backend
    return paradigm.run(ParadigmContext(case, settings, dataset, session, node, seed, extra,
                                        lambda: runner.prepare(artifact, node, settings), topology, params))


def _dispatch(st: Any, case: Case, settings: Any, job: dict[str, Any], session: Any) -> Any:
    """Device farm: measure on a worker offering the item's device (any worker: ``host``)."""
    from pytest_aibench.isolate import run_job  # noqa: PLC0415

    device = settings.device or "host"
    cluster = st.backend.cluster
    if not cluster.offers(device):
        offered = sorted({r for res in cluster.resources().values() for r in res})
        pytest.skip(f"no cluster worker offers device {device!r} (workers offer: {', '.join(offered) or 'nothing'})")
    try:
        measurement, recorded, machine = st.backend.run(device, run_job, job)
    except (ArtifactError, NotAvailable):
        raise
    except Exception as exc:  # KilledWorker after the retry, a lost connection, ...
        fail(f"{case.id}: measuring on the cluster failed ({type(exc).__name__}: {exc}); the worker may have died "
             "(Dask retried the task once)")
    session.settings = {**recorded, "dispatched_to": device}
    measurement.info["worker_machine"] = machine
    measurement.info["placements"] = sorted(set(st.backend.placements))
    return measurement


def _model_context(artifact: Any, dataset: Any) -> dict[str, Any]:
    """What paradigms simulating devices need: the artifact, its size and MFLOPs at this resolution."""
    out: dict[str, Any] = {"artifact": artifact}
    if artifact is not None and artifact.path.is_file():
        out["model_bytes"] = artifact.path.stat().st_size
    if artifact is not None and artifact.card is not None and dataset is not None:
        resolution = int(dataset.x_eval.shape[-1]) if dataset.x_eval.ndim == 4 else None
        out["mflops"] = artifact.card.mflops_at(resolution)
    return out


def _topology_and_params(case: Case) -> tuple[Any, dict[str, Any]]:
    from pytest_aibench.manifest.model import Settings  # noqa: PLC0415
    from pytest_aibench.sim.topology import Topology  # noqa: PLC0415

    suite = case.suite
    assert suite is not None
    name = case.axis("topology")
    topology = suite.topologies.get(name) if name else None
    params = {**suite.params.get(case.paradigm, {}),
              **{k: v for k, v in case.variables if k not in Settings.names()}}
    return topology or Topology(), params


def _prepare_other(st: Any, case: Case, model: str, node: Any, settings: Any) -> tuple[Any, Any, Any]:
    """Another model of the suite (e.g. joint inference's cloud model), verified and prepared on the same
    runtime in fp32: (session, MFLOPs, bytes)."""
    from pytest_aibench.artifact import resolve  # noqa: PLC0415
    from pytest_aibench.files import verify  # noqa: PLC0415

    assert case.suite is not None
    if model not in case.suite.models:
        raise ArtifactError(f"no model {model!r} in the suite (it has {', '.join(case.suite.models)})")
    runner = st.runner(case.framework)
    artifact = resolve(case.suite.models[model], case.framework, "fp32", runner)
    verify(artifact.path, artifact.sha256, f"model {model!r} artifact")
    card = artifact.card
    return (runner.prepare(artifact, node, settings), card.mflops_at(None) if card else None,
            artifact.path.stat().st_size, artifact)


def determinism() -> dict[str, Any]:
    """Settings that decide whether predictions repeat bit for bit: recorded with every item."""
    import os  # noqa: PLC0415
    import sys  # noqa: PLC0415

    out: dict[str, Any] = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                          "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "PYTHONHASHSEED")
                           if os.environ.get(k) is not None}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        out.update({"torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
                    "torch_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                    "onednn": bool(torch.backends.mkldnn.is_available())})
    return out


class _CallableSession:
    """Lets any ``batch -> scores`` callable be measured like a prepared model."""

    def __init__(self, fn: Any):
        self._fn = fn
        self.settings = {"callable": getattr(fn, "__qualname__", repr(fn))}

    def adapt(self, x: Any) -> Any:
        return x

    def infer(self, batch: Any) -> Any:
        return self._fn(batch)

    def close(self) -> None:
        pass


class Measurer:
    """The ``aibench`` fixture's value; call it once per test."""

    def __init__(self, request: pytest.FixtureRequest, case: Case):
        self._request = request
        self._case = case
        self.result: Result | None = None

    def __call__(self, target: Any, dataset: Any = None, **settings: Any) -> Result:
        from pytest_aibench.measure.memory import peak_rss_mb  # noqa: PLC0415
        from pytest_aibench.paradigms import ParadigmContext  # noqa: PLC0415
        from pytest_aibench.paradigms.single import SingleNode  # noqa: PLC0415

        if self.result is not None:
            raise pytest.UsageError("the aibench fixture measures once per test; split the test to measure twice")
        req = self._request
        case = self._case
        session = target if hasattr(target, "infer") and hasattr(target, "adapt") else _CallableSession(target)
        if dataset is None:
            dataset = req.getfixturevalue("aibench_dataset")
        seed = req.getfixturevalue("aibench_seed")
        base = case.settings(state(req.config).profile)
        unknown = [k for k in settings if k not in base.names()]
        if unknown:
            raise TypeError(f"aibench() got unknown setting(s) {', '.join(unknown)}; known: {', '.join(base.names())}")
        s = base.merged(settings)
        from pytest_aibench.sim.node import Node, host_threads  # noqa: PLC0415

        node = Node(threads=s.threads or host_threads())
        t0 = time.perf_counter()
        m = SingleNode().run(ParadigmContext(case, s, dataset, session, node, seed))
        m.peak_rss_mb = peak_rss_mb()
        result = build_result(req.node, case, seed, dataset, node, session, m, req.node.stash.get(ARTIFACT, None))
        result.settings = {k: getattr(s, k) for k in s.names()}
        result.duration_s = time.perf_counter() - t0
        record(req.node, result)
        self.result = result
        return result
