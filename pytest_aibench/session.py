"""The controller's view of a run: gathers results from test reports (local or from xdist
workers), journals each finished item, and writes the run JSON and the leaderboard. Registered
only where files may be written (never on an xdist worker), as pytest's junitxml does."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from .report.journal import Journal
from .report.result import Result
from .state import State


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


class AibenchSession:
    def __init__(self, config: pytest.Config, st: State):
        self.config = config
        self.state = st
        self.results: list[Result] = []
        self._pending: dict[str, Result] = {}
        self._journal: Journal | None = None
        self.started = datetime.now(timezone.utc)
        self.run_id = st.run_id

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: workers share the controller's run id, so their files land in this run's folder."""
        node.workerinput["aibench_run_id"] = self.run_id

    # -- gathering ---------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "aibench", None)
        res = self._pending.get(report.nodeid)
        if data is not None and res is None:
            res = Result.from_dict(data)
            res.nodeid = report.nodeid
            self._pending[report.nodeid] = res
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
            self._finish(self._pending.pop(report.nodeid))

    def _finish(self, res: Result) -> None:
        self.results.append(res)
        if self._journal is None:
            self._journal = Journal(self.run_dir / "journal.jsonl", self._run_header())
            self._point_latest()
        self._journal.write({"type": "item", **res.to_dict()})
        self.config.hook.pytest_aibench_finished(config=self.config, result=res)

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
        return {"run_id": self.run_id, "started": self.started.isoformat(), "seed": self.state.seed,
                "profile": self.state.profile, "argv": list(self.config.invocation_params.args),
                "plugin_version": _plugin_version(),
                "manifests": self.manifests()}

    def manifests(self) -> list[dict[str, Any]]:
        root = self.config.rootpath
        out = []
        for path, loaded in self.state.suites.items():
            try:
                shown = str(path.relative_to(root))
            except ValueError:
                shown = str(path)
            out.append({"path": shown, "suite": loaded.suite.name, "version": loaded.suite.version,
                        "sha256": loaded.suite.sha256, "cases": len(loaded.cases)})
        return out

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for nodeid in list(self._pending):  # an item that never reached teardown (crash, Ctrl-C)
            res = self._pending.pop(nodeid)
            if res.outcome == "passed":
                res.outcome, res.reason = "error", "item did not finish (interrupted or its worker crashed)"
            self._finish(res)
        finished = datetime.now(timezone.utc)
        if self._journal is not None:
            self._journal.close({"finished": finished.isoformat(), "exitstatus": int(exitstatus),
                                 "items": len(self.results)})
        path = self.config.option.aibench_json
        if path:
            from .machine import machine_info  # noqa: PLC0415
            from .report import runjson  # noqa: PLC0415

            machine = machine_info(self.config.rootpath)
            self.config.hook.pytest_aibench_machine_info(config=self.config, info=machine)
            run = {**self._run_header(), "finished": finished.isoformat(),
                   "duration_s": round((finished - self.started).total_seconds(), 3), "exitstatus": int(exitstatus)}
            target = Path(path)
            if not target.is_absolute():
                target = self.config.invocation_params.dir / target
            runjson.write_atomic(target, runjson.build(run, machine, self.manifests(), self.results))
            self._json_written = target

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results or self.config.get_verbosity() < -1:
            return
        from .report.terminal import leaderboard  # noqa: PLC0415

        tr = terminalreporter
        tr.write_sep("=", "aibench")
        for line in leaderboard(self.results):
            tr.write_line(line)
        where = f"journal: {self.run_dir / 'journal.jsonl'}"
        if getattr(self, "_json_written", None):
            where += f"; run JSON: {self._json_written}"
        tr.write_line(where)


def _plugin_version() -> str | None:
    from .runtimes import version_of  # noqa: PLC0415

    return version_of("pytest-aibench")


__all__ = ["AibenchSession"]
