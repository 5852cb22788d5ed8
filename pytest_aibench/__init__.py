"""pytest-aibench: AI benchmark suites as parametrised, measured pytest items.

The public API, for plugins and conftests that add runners, datasets, paradigms or metrics:
``from pytest_aibench import Runner, RunnerSession, RUNNERS, ...``. Names are imported on first
use (this package is imported in every pytest session, so it imports nothing by itself).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.case import Case
    from pytest_aibench.core.model import DatasetSpec, InputSpec, Settings
    from pytest_aibench.core.result import Result
    from pytest_aibench.data import DATASETS, Dataset, DatasetSource
    from pytest_aibench.errors import ArtifactError, NotAvailable
    from pytest_aibench.judge.metrics import METRICS, MetricGroup, MetricInfo
    from pytest_aibench.measure import Measurement
    from pytest_aibench.paradigms import PARADIGMS, Paradigm, ParadigmContext
    from pytest_aibench.quantization import QUANTIZATIONS, Quantization
    from pytest_aibench.registry import Registry
    from pytest_aibench.run.plan import Plan
    from pytest_aibench.runtimes import RUNNERS, Runner, RunnerSession
    from pytest_aibench.sim.node import Node

#: public name -> the module that defines it
_WHERE = {
    "ArtifactError": "errors",
    "NotAvailable": "errors",
    "Case": "manifest.case",
    "DatasetSpec": "manifest.model",
    "InputSpec": "manifest.model",
    "Settings": "manifest.model",
    "Dataset": "data",
    "DatasetSource": "data",
    "DATASETS": "data",
    "Measurement": "measure",
    "MetricGroup": "judge.metrics",
    "MetricInfo": "judge.metrics",
    "METRICS": "judge.metrics",
    "ModelArtifact": "artifact",
    "Node": "sim.node",
    "Paradigm": "paradigms",
    "ParadigmContext": "paradigms",
    "PARADIGMS": "paradigms",
    "Plan": "run.plan",
    "Quantization": "quantization",
    "QUANTIZATIONS": "quantization",
    "Registry": "registry",
    "Result": "report.result",
    "Runner": "runtimes",
    "RunnerSession": "runtimes",
    "RUNNERS": "runtimes",
}

__all__ = [
    "ArtifactError",
    "Case",
    "DATASETS",
    "Dataset",
    "DatasetSource",
    "DatasetSpec",
    "InputSpec",
    "METRICS",
    "Measurement",
    "MetricGroup",
    "MetricInfo",
    "ModelArtifact",
    "Node",
    "NotAvailable",
    "PARADIGMS",
    "Paradigm",
    "ParadigmContext",
    "Plan",
    "QUANTIZATIONS",
    "Quantization",
    "RUNNERS",
    "Registry",
    "Result",
    "Runner",
    "RunnerSession",
    "Settings",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"pytest_aibench.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
