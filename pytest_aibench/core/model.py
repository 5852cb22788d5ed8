"""The validated manifest as frozen dataclasses: nothing past the loader sees raw YAML dicts."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pytest_aibench.core.lines import LineIndex

#: Axes every suite has, in item-id order; manifests spell them plural, rules and ids singular.
STANDARD_AXES = (
    ("framework", "frameworks"),
    ("quantization", "quantizations"),
    ("paradigm", "paradigms"),
    ("scenario", "scenarios"),
    ("topology", "topologies"),
)
#: standard axes a suite has even when its manifest does not name them (scenario is only there if named)
DEFAULT_AXES = {"framework": None, "quantization": ["fp32"], "paradigm": ["single"]}

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class Settings:
    """Measurement settings; profiles, models and same-named axes override them in that order."""

    warmup: int | str = 10  # a count, or "stable": until consecutive windows agree
    latency_samples: int = 200
    latency_batch: int = 1
    latency_rounds: int = 1  # independent rounds, each on a freshly prepared runner
    latency_span_s: float = 0.0  # spread the rounds over at least this many seconds (idle between)
    # adaptive sampling: time until the median's 95 % interval is this narrow ("0.5%" or 0.005), instead
    # of latency_samples calls; between the min and max samples, within latency_max_s per round
    latency_ci: float | str | None = None
    latency_min_samples: int = 100
    latency_max_samples: int = 100_000
    latency_max_s: float = 10.0
    batch_size: int = 64
    eval_samples: int | None = None
    threads: int | None = None
    resolution: int | None = None
    # MLPerf LoadGen scenarios (the `scenarios` axis); None = calibrated from a short built-in run
    min_duration_ms: int = 1000
    min_query_count: int = 100
    max_duration_ms: int = 20000
    expected_latency_ms: float | None = None
    expected_qps: float | None = None
    server_target_qps: float | None = None
    server_latency_ms: float | None = None
    samples_per_query: int = 8
    require_valid: bool = False
    find_peak_qps: bool = True  # Server: search the highest VALID target QPS (unless server_target_qps)
    loadgen_settings: str = "scaled"  # "official": LoadGen's own durations, query counts and seeds
    device: str | None = None  # the resource a worker must offer to measure the item (--aibench-dispatch)
    # per runner, the keys it declares (providers for onnxruntime, dtype for torch, delegate for litert...)
    runtime_options: dict[str, dict[str, Any]] | None = None
    # --aibench-against: pairs are measured in batches until every rule is decided, or this budget is spent
    max_pairs: int = 20000
    max_pair_seconds: float = 20.0
    # ... and no verdict before this many seconds of pairs: a state bound to one side for a fraction of
    # a second (a thread parked beside its caller) must not decide a run that took 0.1 s
    min_pair_seconds: float = 1.0
    # ... each side prepared as this many independent sessions, pairs drawn across them (more are added,
    # up to 4x, while a verdict stays open): the interval then covers the offset between two sessions
    paired_sessions: int = 6
    # intra-op threads spin while waiting for work (None: the runtime's default, on for ONNX Runtime);
    # paired measurements turn it off on both sides, or the idle side's spinning pool takes the other's core
    spin_wait: bool | None = None
    # the search paradigm (AIPerf): its time budget, and whether its validity rules are scaled or as published
    search_budget_s: float = 60.0
    # learning paradigms (federated, lifelong, incremental, trial, search): run over this many seeds
    # (derived from the item's, the same for every compared condition); metrics are means with a 95 % CI
    seeds: int = 1
    aiperf_rules: str = "scaled"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def merged(self, overrides: dict[str, Any] | None) -> Settings:
        known = {k: v for k, v in (overrides or {}).items() if k in self.names()}
        if isinstance(known.get("runtime_options"), dict):  # per runner, per key: a model adds to the suite's
            mine = self.runtime_options or {}
            known["runtime_options"] = {
                r: {**(mine.get(r) or {}), **(known["runtime_options"].get(r) or {})}
                for r in dict.fromkeys([*mine, *known["runtime_options"]])
            }
        return replace(self, **known) if known else self


@dataclass(frozen=True)
class Gate:
    """``metric op limit``, e.g. ``latency.p99_ms <= 20``; ``where`` says where it was written."""

    metric: str
    op: str
    limit: float
    where: str = ""

    def check(self, value: float | None) -> bool:
        return value is not None and OPS[self.op](value, self.limit)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.limit:g}"


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int | None, ...]
    name: str | None = None
    layout: str = "NCHW"
    dtype: str | None = None  # None: the model's own input dtype
    scale: float | None = None
    mean: Any = None
    std: Any = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    source: str
    path: Path | None = None
    sha256: str | None = None
    eval_fraction: float = 0.25
    split_seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    #: the folder the data must stay inside (the suite's; None with allow_outside_paths): symlinks and a
    #: labels file's lines are held to it too, not only ``path:``
    confine: Path | None = None
    task: str | None = None  # what the truth is for (None: the source's own, else classification)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    dataset: str
    task: str | None = None  # how its outputs decode and are judged (None: its card's, else the dataset's)
    zoo: str | None = None
    file: Path | None = None
    factory: str | None = None  # "module:function" building the torch module for `file`'s weights
    #: where ``factory:`` may import from (the suite's folder) and what it may import besides (usercode's rule)
    code_root: Path | None = None
    trusted_modules: tuple[str, ...] = ()
    kernel: Any = None  # kernels.Kernel: an operation on fixed shapes instead of a model
    sha256: str | None = None
    input: InputSpec | None = None
    #: which model output holds the class scores (name or index); a list names several a task decodes together
    output: str | int | tuple[str | int, ...] | None = None
    preprocess: Any = None  # data.images.Preprocess: how image files become this model's input
    axes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    gates: tuple[Gate, ...] = ()
    regressions: tuple[Any, ...] = ()  # compare.Rule
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()  # metric groups this model adds to the suite's
    line: int | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    path: Path
    sha256: str
    datasets: dict[str, DatasetSpec]
    models: dict[str, ModelSpec]
    #: ordered (axis name, values): framework, quantization, paradigm, then extra axes
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    include: tuple[dict[str, Any], ...] = ()
    exclude: tuple[dict[str, Any], ...] = ()
    metrics: tuple[str, ...] = ()
    gates: tuple[Gate, ...] = ()
    regressions: tuple[Any, ...] = ()  # compare.Rule, judged when a baseline is given
    settings: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_profile: str | None = None
    description: str = ""
    timeout: float | None = None
    allow_outside_paths: bool = False
    trusted_modules: tuple[str, ...] = ()  # modules a factory or stage may import besides the suite's own files
    seed_from: tuple[str, ...] = ()  # axes/variables that feed the seed besides model, dataset, paradigm
    max_items: int = 100_000  # a matrix larger than this is refused at collection, with its size
    topologies: dict[str, Any] = field(default_factory=dict)  # name -> sim.topology.Topology
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # paradigm -> parameters
    grid: tuple[dict[str, Any], ...] = ()  # hyper-parameter points (each its own item)
    cluster: str | None = None  # a Dask scheduler address or local:SPEC
    lines: LineIndex = field(default_factory=LineIndex, compare=False, repr=False)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.axes)

    def settings_for(self, model: str, profile: str | None, variables: dict[str, Any]) -> Settings:
        """defaults < suite settings < model settings < profile < same-named axes and variables."""
        s = Settings().merged(self.settings).merged(self.models[model].settings)
        if profile and profile in self.profiles:
            s = s.merged(self.profiles[profile])
        return s.merged(variables)

    def regressions_for(self, model: str) -> tuple[Any, ...]:
        own = {r.metric for r in self.models[model].regressions}
        return tuple(r for r in self.regressions if r.metric not in own) + self.models[model].regressions

    def gates_for(self, model: str) -> tuple[Gate, ...]:
        own = {g.metric for g in self.models[model].gates}
        return tuple(g for g in self.gates if g.metric not in own) + self.models[model].gates
