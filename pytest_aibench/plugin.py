"""pytest hooks only: options, manifest loading, collection and wiring. Heavy lifting lives in
the modules these hooks call, reached through the package's one lazy-import boundary (``_lazy``):
without ``--aibench`` nothing heavy is imported."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aibench import heap, hookspec, options, outputs
from pytest_aibench._lazy import lazy
from pytest_aibench.fixtures import (
    aibench,
    aibench_case,
    aibench_dataset,
    aibench_model,
    aibench_node,
    aibench_place,
    aibench_plan,
    aibench_prepared,
    aibench_runner,
    aibench_seed,
    aibench_settings,
    aibench_topology,
    cloud_node,
    edge_node,
)
from pytest_aibench.state import RESULT, STATE, State, state

if TYPE_CHECKING:
    from pytest_aibench import cluster, collect, controller, isa, junit, registry
    from pytest_aibench.cluster import backend as backends
    from pytest_aibench.core.case import Case
    from pytest_aibench.judge import baseline, catalogue, compare
    from pytest_aibench.manifest import loader as manifest
    from pytest_aibench.manifest import matrix
    from pytest_aibench.measure import spin
    from pytest_aibench.report import journal
    from pytest_aibench.run import against, measure
else:
    against = lazy("pytest_aibench.run.against")
    backends = lazy("pytest_aibench.cluster.backend")
    baseline = lazy("pytest_aibench.judge.baseline")
    catalogue = lazy("pytest_aibench.judge.catalogue")
    cluster = lazy("pytest_aibench.cluster")
    collect = lazy("pytest_aibench.collect")
    compare = lazy("pytest_aibench.judge.compare")
    controller = lazy("pytest_aibench.controller")
    isa = lazy("pytest_aibench.isa")
    journal = lazy("pytest_aibench.report.journal")
    junit = lazy("pytest_aibench.junit")
    manifest = lazy("pytest_aibench.manifest.loader")
    measure = lazy("pytest_aibench.run.measure")
    registry = lazy("pytest_aibench.registry")
    matrix = lazy("pytest_aibench.manifest.matrix")
    spin = lazy("pytest_aibench.measure.spin")

__all__ = [
    "aibench",
    "aibench_case",
    "aibench_dataset",
    "aibench_model",
    "aibench_node",
    "aibench_place",
    "aibench_plan",
    "aibench_prepared",
    "aibench_runner",
    "aibench_seed",
    "aibench_settings",
    "aibench_topology",
    "cloud_node",
    "edge_node",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aibench", "AI benchmark suites (pytest-aibench)")
    options.add_run_options(group)
    options.add_gate_options(group)
    options.add_place_options(group)
    options.add_file_options(group)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "aibench(model=, framework=, quantization=, dataset=, **settings): "
        "what the aibench fixtures measure in a hand-written test",
    )
    registry.fresh()  # this session's runners, paradigms, metrics and formats, never an earlier session's
    heap.thaw()  # an earlier session in this process (pytester, pytest.main) froze its collected heap
    opt = config.option
    out = Path(opt.aibench_out)
    if not out.is_absolute():
        out = config.invocation_params.dir / out
    if not hasattr(config, "workerinput") and not opt.collectonly and (opt.aibench or opt.aibench_out != ".aibench"):
        outputs.check_outputs(config, out)  # before anything is measured: a usage error, not a lost hour
    run_id = getattr(config, "workerinput", {}).get("aibench_run_id") or _new_run_id()
    resumed: dict = {}
    header: dict = {}
    if opt.aibench_resume:
        run_id, header, resumed = _resume(out, run_id)
    st = State(
        config=config, seed=opt.aibench_seed, profile=opt.aibench_profile, out=out, run_id=run_id, resumed=resumed
    )
    config.stash[STATE] = st
    if opt.aibench:
        _load_suites(config, st)
        if not opt.collectonly:  # before any item imports torch: libgomp reads its wait policy once
            spin.configure_openmp(_spin_settings(st))
    if resumed and opt.aibench_resume != "force":
        _same_configuration(header, st, out)
    _load_baseline(config, st)
    _connect_cluster(config, st)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(
            _Dormant(config, st) if _nothing_asked(opt) else controller.Controller(config, st), "aibench-controller"
        )
    if getattr(opt, "xmlpath", None) and junit.wanted(config):  # xunit2: our <properties> go to the testsuite
        config.pluginmanager.register(junit.Xunit2Properties(config), "aibench-xunit2-properties")


def _nothing_asked(opt: Any) -> bool:
    """No manifest, file, baseline or resume asked for (under --collect-only, no file or resume: nothing
    is measured or judged): the controller waits for a hand-written test's result before it is imported
    (a session that never uses the plugin imports nothing for it)."""
    files = [getattr(opt, attr, None) for attr, _ in outputs.file_options()]
    asked = (opt.aibench_save, opt.aibench_resume, *files)
    if not opt.collectonly:
        asked += (opt.aibench, opt.aibench_compare, opt.aibench_against)
    return not any(asked)


class _Dormant:
    """Stands for the controller until the first result of an ``aibench`` test arrives: then registers the
    real one in its place and hands it that report. Its other hooks have nothing to do without results."""

    def __init__(self, config: pytest.Config, st: State):
        self.config, self.state = config, st

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["aibench_run_id"] = self.state.run_id

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if getattr(report, "aibench", None) is None:
            return
        pm = self.config.pluginmanager
        pm.unregister(self)
        real = controller.Controller(self.config, self.state)
        pm.register(real, "aibench-controller")
        real.pytest_runtest_logreport(report)


def _connect_cluster(config: pytest.Config, st: State) -> None:
    """--aibench-cluster (or a manifest's cluster:): start or join the cluster once; xdist workers join
    the controller's. Without the option everything runs in-process, as always."""
    spec = config.option.aibench_cluster or next(
        (ls.suite.cluster for ls in st.suites.values() if ls.suite.cluster), None
    )
    if config.option.aibench_dispatch and not spec:
        raise pytest.UsageError("--aibench-dispatch needs a cluster: add --aibench-cluster ADDRESS|local:SPEC")
    if not spec or config.option.collectonly:  # nothing is measured: no cluster to start
        return
    address = getattr(config, "workerinput", {}).get("aibench_cluster")
    try:
        joined = cluster.start(address or spec)
    except cluster.ClusterError as exc:
        raise pytest.UsageError(str(exc)) from None
    st.backend = backends.DaskBackend(joined)
    config.add_cleanup(joined.close)


def _resume(out: Path, fresh_id: str) -> tuple[str, dict, dict]:
    """The latest run's id, its header and its finished items (case id -> journal record); every
    process reads the same journal before any item runs, so xdist workers deselect the same items."""
    latest = out / "latest"
    journal_path = latest / "journal.jsonl"
    if not journal_path.is_file():
        return fresh_id, {}, {}
    header, items, _footer = journal.read(journal_path)
    return (header.get("run_id") or latest.resolve().name, header, {rec["id"]: rec for rec in items if "id" in rec})


def _same_configuration(header: dict, st: State, out: Path) -> None:
    """A resumed run continues the same configuration, or one leaderboard would mix two."""
    differs = []
    if header.get("seed", st.seed) != st.seed:
        differs.append(f"seed {st.seed} now, {header.get('seed')} in the journal")
    if header.get("profile", st.profile) != st.profile:
        differs.append(f"profile {st.profile!r} now, {header.get('profile')!r} in the journal")
    then = {m.get("suite"): m.get("sha256") for m in header.get("manifests", ()) if isinstance(m, dict)}
    for loaded in st.suites.values():
        old = then.get(loaded.suite.name)
        if old is not None and old != loaded.suite.sha256:
            differs.append(
                f"manifest {loaded.suite.path} changed (sha256 {loaded.suite.sha256[:12]}... now, "
                f"{old[:12]}... in the journal)"
            )
    if differs:
        raise pytest.UsageError(
            f"--aibench-resume: the run in {out / 'latest'} was made with another configuration: "
            + "; ".join(differs)
            + ". Start a new run (leave out --aibench-resume), restore "
            "the configuration, or pass --aibench-resume=force to mix them (each item keeps its "
            "own settings)"
        )


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """A manifest's items are collected: freeze the heap out of the cycle collector's walks (see heap.py)."""
    if session.config.option.aibench:
        heap.freeze_collected()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--aibench-resume: items the journal already holds are deselected (their results are kept);
    --aibench-items: items the file does not list are deselected."""
    st = config.stash.get(STATE, None)
    only = _listed_items(config)
    if st is None or not (st.resumed or only is not None):
        return
    keep: list[pytest.Item] = []
    done: list[pytest.Item] = []
    for item in items:
        case = _case_of(item)
        drop = case is not None and (case.id in st.resumed or (only is not None and case.id not in only))
        (done if drop else keep).append(item)
    if done:
        config.hook.pytest_deselected(items=done)
        items[:] = keep


def _listed_items(config: pytest.Config) -> set[str] | None:
    path = config.option.aibench_items
    if not path:
        return None
    try:
        return {line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()}
    except (OSError, UnicodeDecodeError) as exc:
        raise pytest.UsageError(
            f"--aibench-items {path}: cannot read the item list ({exc}); expected a text file of item ids, one per line"
        ) from None


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Any:
    """Resuming a run whose items are all in the journal ran nothing and lost nothing: that is success."""
    st = session.config.stash.get(STATE, None)
    if st is not None and st.resumed and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK
    return (yield)


def _load_baseline(config: pytest.Config, st: State) -> None:
    """Read --aibench-compare / --aibench-against and --aibench-fail-on up front: a bad value is a
    usage error, not a failure after measuring. Every process opens them (items are judged where
    they run)."""
    opt = config.option
    if opt.aibench_against is not None and not opt.aibench_against.strip():
        raise pytest.UsageError(
            "--aibench-against needs a REF (a saved baseline, a run JSON, a bundle, a folder or "
            "git:REV) and got an empty string: is the CI variable that should hold it unset? "
            "Leave the option out to measure without a reference"
        )
    if opt.aibench_fail_on and not (opt.aibench_compare or opt.aibench_against):
        raise pytest.UsageError(
            "--aibench-fail-on needs something to compare with: add --aibench-against REF "
            "(paired, the stronger test) or --aibench-compare NAME|PATH"
        )
    if opt.aibench_compare and opt.aibench_against:
        raise pytest.UsageError(
            "--aibench-compare and --aibench-against judge the same rules: choose one "
            "(--aibench-against re-measures the reference beside each item, interleaved)"
        )
    if opt.aibench_against_python and not opt.aibench_against:
        raise pytest.UsageError("--aibench-against-python runs the reference side elsewhere: add --aibench-against REF")
    try:
        # the catalogue imports every paradigm's declarations: only when there are rules to read
        st.rules = (
            compare.parse_rules(",".join(opt.aibench_fail_on), catalogue.known_metric_names())
            if opt.aibench_fail_on
            else []
        )
        if opt.aibench_compare:
            st.baseline = baseline.load_baseline(opt.aibench_compare, st.out, config.invocation_params.dir)
    except (baseline.BaselineError, compare.RuleError) as exc:
        raise pytest.UsageError(str(exc)) from None
    if opt.aibench_against is not None:
        _open_reference(config, st)


def _open_reference(config: pytest.Config, st: State) -> None:
    opt = config.option
    python = opt.aibench_against_python
    if python is not None:
        found = shutil.which(python) or (python if Path(python).is_file() else None)
        if found is None or not os.access(found, os.X_OK):
            raise pytest.UsageError(f"--aibench-against-python {python!r}: no such executable interpreter")
        opt.aibench_against_python = found
    spin.passive_for_pairing()  # torch's pool: both sides wait passively unless the user chose a policy
    try:
        st.reference = against.open_reference(opt.aibench_against, st.out, config.invocation_params.dir)
    except against.ReferenceError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.add_cleanup(st.reference.close)
    st.reference_problems = against.problems(
        st.reference,
        [(ls.suite.name, ls.suite.path) for ls in st.suites.values()],
        config.rootpath,
        config.invocation_params.dir,
    )
    if st.reference_problems and opt.aibench_against_unknown == "fail":
        raise pytest.UsageError(
            "--aibench-against compares nothing (--aibench-against-unknown fail):\n  "
            + "\n  ".join(st.reference_problems)
        )


def _new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _spin_settings(st: State) -> list[tuple[bool | None, int | None]]:
    """Each model's (spin_wait, threads) under the session's profile: torch's wait policy is one for all."""
    seen: dict[tuple[Any, ...], tuple[bool | None, int | None]] = {}
    for ls in st.suites.values():
        for case in ls.cases:  # threads may be an axis or an include variable: each distinct setting once
            key = (id(ls), case.model, *[kv for kv in case.axes + case.variables if kv[0] in ("threads", "spin_wait")])
            if key not in seen:
                s = case.settings(st.profile)
                seen[key] = (s.spin_wait, s.threads)
    return list(set(seen.values()))


def _positional_manifests(config: pytest.Config) -> list[str]:
    """``pytest --aibench suites/aiia suites/edge-ai``: the paths typed after the first manifest that are
    manifests too (a YAML file with a top-level ``suite:``, or a folder holding some) join it; test files
    and folders without manifests stay tests."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return []
    out = []
    for arg in config.args:
        path = arg.split("::", 1)[0]
        full = config.invocation_params.dir / path
        if full.is_file():  # a YAML file is a manifest only with its top-level suite: key
            if full.suffix in (".yaml", ".yml") and re.search(rb"(?m)^suite\s*:", full.read_bytes()[:65536]):
                out.append(path)
        elif full.is_dir() and not manifest.discover([path], config.invocation_params.dir)[1]:
            out.append(path)
    return out


def _load_suites(config: pytest.Config, st: State) -> None:
    try:
        paths, problems = manifest.discover(
            [*config.option.aibench, *_positional_manifests(config)], config.invocation_params.dir
        )
        loaded = manifest.load_all(
            paths, st.knows_runner, config.rootpath, problems, st.runner_names, code=not config.option.aibench_no_code
        )
    except manifest.ManifestError as exc:
        raise pytest.UsageError(f"invalid aibench manifest\n{exc.report()}") from None
    if st.profile is not None:
        lacking = [
            f"{ls.suite.path} (has: {', '.join(ls.suite.profiles) or 'none'})"
            for ls in loaded
            if st.profile not in ls.suite.profiles
        ]
        if lacking and len(lacking) == len(loaded):
            known = {p for ls in loaded for p in ls.suite.profiles}
            raise pytest.UsageError(
                f"--aibench-profile {st.profile!r} is defined in none of the manifests: "
                + "; ".join(lacking)
                + registry.suggest(st.profile, known)
            )
    elif loaded:
        defaults = {ls.suite.default_profile for ls in loaded}
        st.profile = defaults.pop() if len(defaults) == 1 else None
    tokens: dict[str, str] = {}
    token_of = matrix.axis_token  # one lazy-module lookup, not one per item and axis
    for ls in loaded:
        st.suites[ls.suite.path.resolve()] = ls
        tokens.setdefault(ls.suite.name, "")
        for case in ls.cases:
            tokens.setdefault(case.model, f"aibench model {case.model}")
            for axis, value in case.axes:
                token = token_of(axis, value)
                if token not in tokens:
                    tokens[token] = f"aibench {axis} = {value}"
    for token, text in tokens.items():
        if text:
            config.addinivalue_line("markers", f"{token}: {text}")
    # Test paths the user typed are collected too; default ones (testpaths, the current folder) are
    # replaced, so `pytest --aibench suites/smoke` runs just the suite. xdist workers parse the same
    # arguments and reach the same list.
    manifest_args = [str(p) for p in st.suites]
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        config.args.extend(manifest_args)
    else:
        config.args[:] = manifest_args


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    st = config.stash.get(STATE, None)
    if st is None or not st.suites:
        return None
    cases = sum(len(ls.cases) for ls in st.suites.values())
    names = ", ".join(f"{ls.suite.name} {ls.suite.version}" for ls in st.suites.values())
    return [
        f"aibench: {names}; {cases} cases; profile {st.profile or '(none)'}; seed {st.seed}",
        f"aibench: kernels picked for {isa.describe(isa.isa_flags())}",
        *(f"aibench: WARNING: {why}" for why in st.reference_problems),
    ]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    st = parent.config.stash.get(STATE, None)
    if st is None or not st.suites or file_path.resolve() not in st.suites:
        return None
    return collect.SuiteModule.from_parent(parent, path=file_path)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    result = item.stash.get(RESULT, None)
    if result is not None and report.when == "call":
        report.aibench = result.to_dict()
    elif result is None and not report.passed and report.when in ("setup", "call"):
        case = _case_of(item)
        if case is not None:
            st = state(item.config)
            report.aibench = measure.unmeasured(
                case, item.nodeid, case.seed(st.seed), st.profile, st.worker_id
            ).to_dict()
    return report


def _case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("aibench_case") if callspec is not None else None
