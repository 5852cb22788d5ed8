"""Per-process state of a run: options, loaded suites, the baseline, the cluster. Lives in
``config.stash``; imported in every pytest session, so it imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aibench._lazy import lazy

if TYPE_CHECKING:
    from pytest_aibench import progress, registry
    from pytest_aibench.cluster import backend as backends
    from pytest_aibench.judge.baseline import Baseline
    from pytest_aibench.judge.compare import Rule
    from pytest_aibench.manifest.loader import LoadedSuite
    from pytest_aibench.run.against import Reference
    from pytest_aibench.runtimes import Runner
else:
    backends = lazy("pytest_aibench.cluster.backend")
    progress = lazy("pytest_aibench.progress")
    registry = lazy("pytest_aibench.registry")


@dataclass
class State:
    config: pytest.Config
    seed: int
    profile: str | None
    out: Path
    run_id: str = ""
    baseline: Baseline | None = None  # from --aibench-compare
    rules: list[Rule] = field(default_factory=list)  # from --aibench-fail-on
    resumed: dict[str, dict[str, Any]] = field(default_factory=dict)  # case id -> journal record (--aibench-resume)
    backend: Any = None  # cluster.backend.DaskBackend with --aibench-cluster; None: in-process
    reference: Reference | None = None  # --aibench-against
    reference_problems: list[str] = field(default_factory=list)  # why --aibench-against may compare nothing
    suites: dict[Path, LoadedSuite] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """Where this run's files go (journal, LoadGen logs): ``<out>/runs/<run id>``."""
        return self.out / "runs" / self.run_id

    @property
    def worker_count(self) -> int:
        return int(getattr(self.config, "workerinput", {}).get("workercount", 1))

    @property
    def worker_id(self) -> str | None:
        return getattr(self.config, "workerinput", {}).get("workerid")

    def timeout(self, suite: Any) -> float | None:
        return self.config.option.aibench_timeout or getattr(suite, "timeout", None)

    def isolated(self, suite: Any) -> bool:
        """Items are measured away from this process: in a child process (--aibench-isolate, or a
        timeout), or on a cluster worker (--aibench-dispatch)."""
        return bool(self.config.option.aibench_isolate or self.timeout(suite) or self.dispatch)

    @property
    def dispatch(self) -> bool:
        return bool(self.config.option.aibench_dispatch and self.backend is not None)

    def roles(self) -> Any:
        """Where topology roles run: the cluster's workers, or this process."""
        return self.backend if self.backend is not None else backends.InProcess()

    def progress_for(self, label: str) -> Any:
        return progress.for_item(self.config, label)

    def runner(self, name: str) -> Runner:
        """The runner called ``name``: a ``pytest_aibench_make_runner`` hook first, then the registry."""
        made = self.config.hook.pytest_aibench_make_runner(name=name, config=self.config)
        return made if made is not None else registry.RUNNERS.get(name)

    def runner_names(self) -> list[str]:
        """Every runner name known here: the registry's and those hooks declare."""
        names = list(registry.RUNNERS.names())
        for extra in self.config.hook.pytest_aibench_runner_names(config=self.config):
            names += [n for n in extra if n not in names]
        return names

    def knows_runner(self, name: str) -> bool:
        return (
            name in self.runner_names()
            or self.config.hook.pytest_aibench_make_runner(name=name, config=self.config) is not None
        )


STATE = pytest.StashKey[State]()
#: the Result an item measured (set by the item body, read when its report is made)
RESULT = pytest.StashKey[Any]()


def state(config: pytest.Config) -> State:
    return config.stash[STATE]
