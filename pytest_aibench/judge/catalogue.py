"""The one catalogue of metrics: what every registered metric group and paradigm declares it records
and every task (detection, segmentation, ...) declares it records
(:class:`~pytest_aibench.core.metric.MetricInfo`), joined. Gates, rules, comparisons, leaderboards and
exports read it; a test runs every paradigm and holds each metric it records to a declaration here."""

from __future__ import annotations

from pytest_aibench.core.metric import Catalogue, MetricInfo
from pytest_aibench.judge.metrics import METRICS
from pytest_aibench.paradigms import PARADIGMS
from pytest_aibench.tasks import CLASSIFICATION, COMMON, TASKS


def declarations() -> list[tuple[str, dict[str, MetricInfo]]]:
    """(who, what it provides) for every metric group, then every paradigm, in registration order."""
    out = [(f"metric group {name!r}", dict(METRICS.get(name).provides)) for name in METRICS.names()]
    out += [(f"paradigm {name!r}", dict(getattr(PARADIGMS.get(name), "provides", {}))) for name in PARADIGMS.names()]
    out += [("every task", dict(COMMON))]
    out += [(f"task {name!r}", dict(getattr(TASKS.get(name), "provides", {}))) for name in TASKS.names()]
    return out


def catalogue() -> Catalogue:
    """Every declared metric (read afresh: a plugin may register groups or paradigms at any time)."""
    return Catalogue(declarations())


def known_metric_names() -> set[str]:
    """Every declared metric name (for validating rules and gates)."""
    return set(catalogue())


def metric_directions() -> dict[str, bool | None]:
    """Each declared metric's ``higher_is_better`` (None: no direction, e.g. a count)."""
    return {name: info.higher_is_better for name, info in catalogue().items()}


def paradigm_metrics(paradigms: list[str] | tuple[str, ...]) -> set[str]:
    """The metrics the named paradigms declare (those a suite running them can gate on)."""
    return {m for p in paradigms if p in PARADIGMS for m in getattr(PARADIGMS.get(p), "provides", {})}


#: classification's quality metric groups: their figures mean nothing for another task's outputs
CLASSIFICATION_GROUPS = ("accuracy", "vips", "vops", "accuracy_loss", "binary", "retrieval")


def owner(metric: str) -> str | None:
    """The task whose quality ``metric`` is (None: a figure every task has, e.g. latency)."""
    for name in TASKS.names():
        if name != CLASSIFICATION and metric in Catalogue([("", getattr(TASKS.get(name), "provides", {}))]):
            return name
    for group in CLASSIFICATION_GROUPS:
        if group in METRICS and metric in METRICS.get(group).provides and metric not in ("mflops", "gflops_effective"):
            return CLASSIFICATION
    return None


def applies(metric: str, task: str | None) -> bool:
    """Whether a suite-wide gate on ``metric`` judges an item of ``task`` (mAP does not judge a classifier)."""
    who = owner(metric)
    return who is None or who == (task or CLASSIFICATION)
