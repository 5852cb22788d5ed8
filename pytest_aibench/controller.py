"""The controller's view of a run: gathers results from test reports (local or from xdist
workers), journals each finished item, and writes the run JSON and the leaderboard. Registered
only where files may be written (never on an xdist worker), as pytest's junitxml does."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_aibench.core.result import Result
from pytest_aibench.core.verdict import Comparison
from pytest_aibench.judge.baseline import saved_path
from pytest_aibench.judge.compare import key, machine_differences
from pytest_aibench.machine import machine_info
from pytest_aibench.outputs import file_options
from pytest_aibench.report import runjson
from pytest_aibench.report.formats import RunOutput, formats
from pytest_aibench.report.journal import Journal
from pytest_aibench.report.paired import terminal_lines as paired_lines
from pytest_aibench.report.ranking import label
from pytest_aibench.report.terminal import leaderboard
from pytest_aibench.runtimes import packages, version_of
from pytest_aibench.state import State


def _worker_of(report: pytest.TestReport) -> str | None:
    """The xdist worker that sent ``report`` (None when the run is serial)."""
    gateway = getattr(getattr(report, "node", None), "gateway", None)
    return getattr(gateway, "id", None)


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr)


def _failure_reason(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message).removeprefix("Failed: ")
    text = str(report.longrepr or "").strip()
    return text.splitlines()[-1] if text else "failed"


class Controller:
    def __init__(self, config: pytest.Config, st: State):
        self.config = config
        self.state = st
        self.results: list[Result] = []
        self.write_failures: list[str] = []  # each output that could not be written, said once
        self._pending: dict[tuple[str, str | None], Result] = {}
        self._journal: Journal | None = None
        self._machine_doc: dict[str, Any] | None = None
        self.started = datetime.now(timezone.utc)
        self.run_id = st.run_id
        # --aibench-resume: the journal's finished items are this run's results too
        self.results.extend(Result.from_dict(rec) for rec in st.resumed.values())

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: workers share the controller's run id, so their files land in this run's folder."""
        node.workerinput["aibench_run_id"] = self.run_id
        if self.state.backend is not None and hasattr(self.state.backend, "cluster"):
            node.workerinput["aibench_cluster"] = self.state.backend.cluster.address

    # -- gathering ---------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "aibench", None)
        # keyed by node and worker, as pytest's junitxml is: under `--dist each` every worker runs every item
        key = (report.nodeid, _worker_of(report))
        res = self._pending.get(key)
        if data is not None and res is None:
            res = Result.from_dict(data)
            res.nodeid = report.nodeid
            self._pending[key] = res
        if res is None:
            return
        if report.when == "call":
            res.duration_s = res.duration_s or report.duration
        if report.skipped and report.when in ("setup", "call"):
            res.outcome, res.reason = "skipped", _skip_reason(report)
        elif report.failed:
            if res.outcome in ("passed", "skipped"):
                res.outcome = "failed" if report.when == "call" else "error"
            res.reason = res.reason or _failure_reason(report)
            if report.when == "teardown" and res.outcome == "failed" and res.reason is None:
                res.reason = _failure_reason(report)
        if report.when == "teardown":
            self._finish(self._pending.pop(key))

    def _finish(self, res: Result) -> None:
        self.results.append(res)  # first: whatever the disk does, the result is kept for the final files
        try:
            if self._journal is None:
                resuming = bool(self.state.resumed)
                self._journal = Journal(
                    self.run_dir / "journal.jsonl", self._run_header(), kind="resume" if resuming else "header"
                )
                self._point_latest()
            self._journal.write({"type": "item", **res.to_dict()})
        except OSError as exc:  # a full or failing disk: report once, keep measuring
            self._write_failed(f"journal {self.run_dir / 'journal.jsonl'}", exc)
        self.config.hook.pytest_aibench_finished(config=self.config, result=res)

    def _write_failed(self, what: str, exc: BaseException) -> None:
        first = not any(w.startswith(what) for w in self.write_failures)
        if first:
            reason = getattr(exc, "strerror", None) or exc
            self.write_failures.append(
                f"{what}: {type(exc).__name__}: {reason}; the results are kept in memory and in the other files"
            )

    # -- files -------------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.state.run_dir

    def _point_latest(self) -> None:
        latest = self.state.out / "latest"
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(Path("runs") / self.run_id)
        except OSError:  # a filesystem without symlinks: the runs/ folder still has everything
            pass

    def _run_header(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started": self.started.isoformat(),
            "seed": self.state.seed,
            "profile": self.state.profile,
            "argv": list(self.config.invocation_params.args),
            "plugin_version": _plugin_version(),
            "rootdir": str(self.config.rootpath),
            "manifests": self.manifests(),
        }

    def manifests(self) -> list[dict[str, Any]]:
        root = self.config.rootpath
        out = []
        for path, loaded in self.state.suites.items():
            try:
                shown = str(path.relative_to(root))
            except ValueError:
                shown = str(path)
            out.append(
                {
                    "path": shown,
                    "suite": loaded.suite.name,
                    "version": loaded.suite.version,
                    "sha256": loaded.suite.sha256,
                    "cases": len(loaded.cases),
                }
            )
        return out

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for pending in list(self._pending):  # an item that never reached teardown (crash, Ctrl-C)
            res = self._pending.pop(pending)
            if res.outcome == "passed":
                res.outcome, res.reason = "error", "item did not finish (interrupted or its worker crashed)"
            self._finish(res)
        finished = datetime.now(timezone.utc)
        if self._journal is not None:
            try:  # the machine too: `aibench show` / `report` read a default run from its journal alone
                self._journal.close(
                    {
                        "finished": finished.isoformat(),
                        "exitstatus": int(exitstatus),
                        "items": len(self.results),
                        "machine": self._machine(),
                    }
                )
            except OSError as exc:
                self._write_failed(f"journal {self.run_dir / 'journal.jsonl'}", exc)
        opt = self.config.option
        wanted = [getattr(opt, attr, None) for attr, _ in file_options()] + [opt.aibench_save]
        if any(wanted) or self.state.baseline is not None:
            self._write_outputs(finished, exitstatus)

    def _machine(self) -> dict[str, Any]:
        """The machine, gathered once per session (git and psutil calls), hooks applied."""
        if self._machine_doc is None:
            self._machine_doc = machine_info(self.config.rootpath, tuple(packages().values()))
            self.config.hook.pytest_aibench_machine_info(config=self.config, info=self._machine_doc)
        return self._machine_doc

    def _target(self, path: str) -> Path:
        target = Path(path)
        return target if target.is_absolute() else self.config.invocation_params.dir / target

    def _write_outputs(self, finished: datetime, exitstatus: int) -> None:
        """Every file asked for, from one run document (machine info gathered once)."""

        opt = self.config.option
        machine = self._machine()
        run = {
            **self._run_header(),
            "finished": finished.isoformat(),
            "duration_s": round((finished - self.started).total_seconds(), 3),
            "exitstatus": int(exitstatus),
        }
        doc = runjson.build(run, machine, self.manifests(), self.results)
        self.comparison = self._comparison(machine)
        written: list[Path] = []
        output = RunOutput(doc, self.results, self.comparison)
        jobs: list[tuple[str, Path, Any]] = []
        for fmt in formats():
            value = getattr(opt, fmt.dest, None) if fmt.dest else None
            if value:
                jobs.append((fmt.option or fmt.name, self._target(value), lambda t, fmt=fmt: fmt.write(output, t)))
        if opt.aibench_save:
            jobs.append(
                ("--aibench-save", saved_path(self.state.out, opt.aibench_save), lambda t: runjson.write_atomic(t, doc))
            )
        for option, target, write in jobs:  # one failing exporter never stops the others or the leaderboard
            try:
                written += write(target) or [target]
            except Exception as exc:  # noqa: BLE001 (a disk fault or an exporter's bug: reported, not fatal)
                self._write_failed(f"{option} {target}", exc)
        self._written = written

    def _comparison(self, machine: dict[str, Any]) -> Comparison | None:
        baseline = self.state.baseline
        if baseline is None:
            return None

        seen = {key(r) for r in self.results}
        matched = [r for r in self.results if r.info.get("baseline", {}).get("status") == "matched"]
        changes = []
        for r in matched:
            base = r.info["baseline"]["metrics"]
            for metric in ("accuracy", "latency.p50_ms", "latency.p99_ms"):
                b, c = base.get(metric), r.metrics.get(metric)
                if isinstance(b, (int, float)) and isinstance(c, (int, float)) and b:
                    changes.append((label(r), metric, b, c, c / b - 1))
        verdicts = [(label(r), v) for r in matched for v in r.info["baseline"].get("verdicts", ())]
        return Comparison(
            baseline=str(baseline.path),
            matched=len(matched),
            regressions=[(item, str(v.get("message") or v["rule"])) for item, v in verdicts if v.get("regressed")],
            inconclusive=[(item, f"{v['metric']}: {v['evidence']}") for item, v in verdicts if v.get("inconclusive")],
            new=[r.id for r in self.results if r.info.get("baseline", {}).get("status", "").startswith("new")],
            missing=sorted(i.id for k, i in baseline.items.items() if k not in seen),
            machine=machine_differences(baseline.machine, machine),
            changes=changes,
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results or self.config.get_verbosity() < -1:
            return

        tr = terminalreporter
        tr.write_sep("=", "aibench")
        for line in leaderboard(self.results):
            tr.write_line(line)
        for line in paired_lines(self.results):
            tr.write_line(line, red=line.lstrip().startswith("REGRESSED"), yellow=line.lstrip().startswith("UNKNOWN"))
        c = getattr(self, "comparison", None)
        if c:
            tr.write_line(
                f"compared with {c.baseline}: {c.matched} matched, {len(c.regressions)} regressed, "
                f"{len(c.new)} new, {len(c.missing)} missing from this run (unpaired, the weaker test: "
                "--aibench-against re-measures the baseline beside each item)",
                red=bool(c.regressions),
            )
            for shown, reason in c.regressions:
                tr.write_line(f"  REGRESSED {shown}: {reason}", red=True)
            for shown, reason in c.inconclusive:
                tr.write_line(f"  INCONCLUSIVE {shown}: {reason}", yellow=True)
            for note in c.machine:
                tr.write_line(f"  machine differs: {note}", yellow=True)
        tr.write_line(f"journal: {self.run_dir / 'journal.jsonl'}")
        for path in getattr(self, "_written", []):
            tr.write_line(f"wrote {path}")
        for failure in self.write_failures:
            tr.write_line(f"could not write {failure}", red=True)


def _plugin_version() -> str | None:

    return version_of("pytest-aibench")


__all__ = ["Controller"]
