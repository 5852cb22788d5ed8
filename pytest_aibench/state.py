"""Per-process state of a run: options, loaded suites, caches. Lives in ``config.stash``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_aibench.data import Dataset
    from pytest_aibench.manifest import LoadedSuite
    from pytest_aibench.manifest.model import DatasetSpec


@dataclass
class State:
    config: pytest.Config
    seed: int
    profile: str | None
    out: Path
    run_id: str = ""
    baseline: Any = None              # baseline.Baseline from --aibench-compare
    rules: list[Any] = field(default_factory=list)  # compare.Rule from --aibench-fail-on
    resumed: dict[str, dict[str, Any]] = field(default_factory=dict)  # case id -> journal record (--aibench-resume)
    backend: Any = None               # backend.DaskBackend with --aibench-cluster; None: in-process
    suites: dict[Path, LoadedSuite] = field(default_factory=dict)
    _datasets: dict[Any, Dataset] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """Where this run's files go (journal, LoadGen logs): ``<out>/runs/<run id>``."""
        return self.out / "runs" / self.run_id

    def item_dir(self, case_id: str) -> Path:
        """A folder for one item's own files, named after its case id."""
        import re  # noqa: PLC0415

        return self.run_dir / "items" / re.sub(r"[^A-Za-z0-9_.+-]+", "_", case_id).strip("_")

    @property
    def worker_count(self) -> int:
        return int(getattr(self.config, "workerinput", {}).get("workercount", 1))

    @property
    def worker_id(self) -> str | None:
        return getattr(self.config, "workerinput", {}).get("workerid")

    def dataset(self, spec: DatasetSpec) -> Dataset:
        """Load each dataset once per process; items share it read-only."""
        key = (spec.source, str(spec.path), spec.sha256, spec.eval_fraction, spec.split_seed,
               repr(sorted(spec.params.items())))
        if key not in self._datasets:
            from pytest_aibench.data import materialize  # noqa: PLC0415

            data = materialize(spec)
            for arr in (data.x_train, data.y_train, data.x_eval, data.y_eval):
                arr.flags.writeable = False
            self._datasets[key] = data
        return self._datasets[key]

    def timeout(self, suite: Any) -> float | None:
        return self.config.option.aibench_timeout or getattr(suite, "timeout", None)

    def isolated(self, suite: Any) -> bool:
        """Items are measured away from this process: in a child process (--aibench-isolate, or a
        timeout), or on a cluster worker (--aibench-dispatch)."""
        return bool(self.config.option.aibench_isolate or self.timeout(suite) or self.dispatch)

    @property
    def dispatch(self) -> bool:
        return bool(self.config.option.aibench_dispatch and self.backend is not None)

    def runner(self, name: str) -> Any:
        """The runner called ``name``: a ``pytest_aibench_make_runner`` hook first, then the registry."""
        from pytest_aibench.registry import RUNNERS  # noqa: PLC0415

        made = self.config.hook.pytest_aibench_make_runner(name=name, config=self.config)
        return made if made is not None else RUNNERS.get(name)

    def runner_names(self) -> list[str]:
        """Every runner name known here: the registry's and those hooks declare."""
        from pytest_aibench.registry import RUNNERS  # noqa: PLC0415

        names = list(RUNNERS.names())
        for extra in self.config.hook.pytest_aibench_runner_names(config=self.config):
            names += [n for n in extra if n not in names]
        return names

    def knows_runner(self, name: str) -> bool:
        return name in self.runner_names() or \
            self.config.hook.pytest_aibench_make_runner(name=name, config=self.config) is not None


STATE = pytest.StashKey[State]()
#: the Result an item measured (set by the item body, read when its report is made)
RESULT = pytest.StashKey[Any]()


def state(config: pytest.Config) -> State:
    return config.stash[STATE]
