"""Named registries for everything a manifest can name: runners, datasets, paradigms, metric groups,
quantizations.

Built-ins are registered as ``"module:attribute"`` strings and imported on first use, so naming a
runner never imports its runtime. Third parties add entries through an entry-point group (listed
without importing anything) or by calling :meth:`Registry.register` from a plugin or conftest.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def suggest(word: str, choices: Any) -> str:
    """A '; did you mean ...?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def import_path(path: str) -> Any:
    """Import ``"package.module:attr"``."""
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class UnknownName(LookupError):
    """A registry has no entry of that name; the message lists the known ones."""


class Registry(Generic[T]):
    """Name -> object, loaded lazily from import paths and entry points."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str | T] | None = None):
        self.kind = kind
        self.group = group
        self._entries: dict[str, str | T | Callable[[], T]] = dict(builtins or {})
        self._loaded: dict[str, T] = {}
        self._scanned = False

    def register(self, name: str, obj: str | T, *, replace: bool = False) -> None:
        """Add ``obj`` (or an import path to it) under ``name``."""
        if not replace and name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True to override)")
        self._entries[name] = obj
        self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        self._loaded.pop(name, None)

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        from importlib.metadata import entry_points  # noqa: PLC0415

        for ep in entry_points(group=self.group):
            self._entries.setdefault(ep.name, ep)  # type: ignore[arg-type]

    def names(self) -> list[str]:
        self._scan()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._scan()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The entry called ``name``, importing it on first use."""
        if name in self._loaded:
            return self._loaded[name]
        self._scan()
        try:
            entry = self._entries[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._entries))}"
                              f"{suggest(name, self._entries)}") from None
        if isinstance(entry, str):
            obj = import_path(entry)
        elif hasattr(entry, "load") and hasattr(entry, "group"):  # an importlib.metadata.EntryPoint
            obj = entry.load()
        else:
            obj = entry
        if isinstance(obj, type):  # classes are instantiated once, with no arguments
            obj = obj()
        self._loaded[name] = obj
        return obj


RUNNERS: Registry[Any] = Registry("runner", "pytest_aibench.runners", {
    "torch": "pytest_aibench.runtimes.torch_runner:TorchRunner",
    "onnxruntime": "pytest_aibench.runtimes.ort_runner:OrtRunner",
    "litert": "pytest_aibench.runtimes.litert_runner:LiteRTRunner",
    "numpy": "pytest_aibench.runtimes.numpy_runner:NumpyRunner",
})
DATASETS: Registry[Any] = Registry("dataset source", "pytest_aibench.datasets", {
    "digits": "pytest_aibench.data.sources:DigitsSource",
    "npz": "pytest_aibench.data.sources:NpzSource",
    "shapes": "pytest_aibench.data.sources:ShapesSource",
    "vitals": "pytest_aibench.data.sources:VitalsSource",
    "signs": "pytest_aibench.data.sources:SignsSource",
    "reid": "pytest_aibench.data.sources:ReidSource",
    "lfw_subset": "pytest_aibench.data.sources:LfwSubsetSource",
})
PARADIGMS: Registry[Any] = Registry("paradigm", "pytest_aibench.paradigms", {
    "single": "pytest_aibench.paradigms.single:SingleNode",
    "edge_only": "pytest_aibench.paradigms.edge_cloud:EdgeOnly",
    "cloud_only": "pytest_aibench.paradigms.edge_cloud:CloudOnly",
    "joint_inference": "pytest_aibench.paradigms.edge_cloud:JointInference",
    "multi_edge_inference": "pytest_aibench.paradigms.edge_cloud:MultiEdgeInference",
    "federated_learning": "pytest_aibench.paradigms.learning:FederatedLearning",
    "incremental_learning": "pytest_aibench.paradigms.learning:IncrementalLearning",
    "lifelong_learning": "pytest_aibench.paradigms.learning:LifelongLearning",
    "kernel": "pytest_aibench.paradigms.kernel:KernelBench",
    "trial": "pytest_aibench.paradigms.train:Trial",
    "train_to_quality": "pytest_aibench.paradigms.train:TrainToQuality",
    "serve_trained": "pytest_aibench.paradigms.train:ServeTrained",
})
METRICS: Registry[Any] = Registry("metric group", "pytest_aibench.metrics", {
    "accuracy": "pytest_aibench.judge.metrics:Accuracy",
    "latency": "pytest_aibench.judge.metrics:Latency",
    "throughput": "pytest_aibench.judge.metrics:Throughput",
    "vips": "pytest_aibench.judge.metrics:Vips",
    "memory": "pytest_aibench.judge.metrics:Memory",
    "accuracy_loss": "pytest_aibench.judge.metrics:AccuracyLoss",
    "vops": "pytest_aibench.judge.metrics:Vops",
    "model": "pytest_aibench.judge.metrics:ModelSize",
    "stats": "pytest_aibench.judge.metrics:LatencyStats",
    "energy": "pytest_aibench.judge.metrics:Energy",
    "loadgen": "pytest_aibench.judge.metrics:LoadGen",
    "repro": "pytest_aibench.judge.metrics:Repro",
    "collaborative": "pytest_aibench.judge.metrics:Collaborative",
    "kernel": "pytest_aibench.judge.metrics:KernelRate",
    "training": "pytest_aibench.judge.metrics:Training",
    "binary": "pytest_aibench.judge.metrics:Binary",
    "retrieval": "pytest_aibench.judge.metrics:Retrieval",
})
SCENARIOS: Registry[Any] = Registry("scenario", "pytest_aibench.scenarios", {
    "single_stream": "pytest_aibench.measure.loadgen:SingleStream",
    "multi_stream": "pytest_aibench.measure.loadgen:MultiStream",
    "server": "pytest_aibench.measure.loadgen:Server",
    "offline": "pytest_aibench.measure.loadgen:Offline",
})
QUANTIZATIONS: Registry[Any] = Registry("quantization", "pytest_aibench.quantizations", {
    "fp32": "pytest_aibench.quantization:FP32",
    "fp16": "pytest_aibench.quantization:FP16",
    "bf16": "pytest_aibench.quantization:BF16",
    "int8": "pytest_aibench.quantization:INT8",
    "int8_dynamic": "pytest_aibench.quantization:INT8_DYNAMIC",
})
