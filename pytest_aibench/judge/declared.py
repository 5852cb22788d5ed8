"""Metric groups whose numbers the item records itself (repeats, seeds, the paired gate): declared here, with
their meaning and direction, so gates, rules and reports know them; their ``compute`` adds nothing. Each
paradigm declares its own metrics (``provides`` on the paradigm)."""

from __future__ import annotations

from typing import Any

from pytest_aibench.core.metric import MetricInfo, declare
from pytest_aibench.measure import Measurement


class Repro:
    """Whether repeated measurements (--aibench-repeat) predicted bit-identically."""

    name = "repro"
    provides = {
        "repro.repeats": MetricInfo("measurements of the item", None),
        "repro.identical": MetricInfo("every repeat's predictions hashed identically", True),
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {}  # measured by the item itself (it repeats the paradigm); see item.run_case


class Seeds:
    """``seeds: N`` over a learning paradigm (run.seeds): how many seeds, and the headline metrics' spread."""

    name = "seeds"
    provides = {
        "seeds.n": MetricInfo("seeds the learning paradigm ran over (metrics are their means)", None),
        **{
            f"seeds.{k.replace('.', '_')}_{part}": MetricInfo(f"{k} over seeds: {text}", None)
            for k in (
                "accuracy",
                "fl.final_accuracy",
                "ll.average_accuracy",
                "il.final_accuracy",
                "aiperf.best_accuracy",
                "trial.accuracy",
                "stl.accuracy",
            )
            for part, text in (
                ("sd", "standard deviation"),
                ("ci_low", "95 % interval of the mean, low"),
                ("ci_high", "95 % interval of the mean, high"),
            )
        },
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {}  # the item combines its seeds' metrics (run.measure._over_seeds)


class ByParadigm:
    """``collaborative``, ``training`` and ``kernel``: names manifests list from before each paradigm declared its
    own metrics (``provides`` on the paradigm). They stay accepted and add nothing."""

    name = "by-paradigm"
    provides: dict[str, MetricInfo] = {}

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {}


class Paired:
    """What the paired gate records (``--aibench-against``): its verdict and each rule's ratio and interval."""

    name = "paired"
    provides = declare(
        ("paired.outcome", "the worst verdict of the paired rules: REGRESSED, UNKNOWN or SAME", None),
        ("paired.pairs", "interleaved reference/candidate pairs timed", None),
        ("paired.seconds", "seconds the paired loop ran", None, "s"),
        ("paired.sessions", "fresh session pairs the calls were spread over", None),
        ("paired.reference_accuracy", "the reference's accuracy on the same samples", None, "1"),
        ("paired.first_call_ratio", "candidate / reference first-call time, median over sessions", False),
        ("paired.warmup_calls_reference", "calls until the reference's latency settled, median", None),
        ("paired.warmup_calls_candidate", "calls until the candidate's latency settled, median", None),
        ("paired.pair_ratio", "candidate / reference latency of the pairs, median", False),
        ("paired.*_ratio", "candidate / reference of the rule's statistic (named in the metric)", False),
        ("paired.*_ratio_ci_low", "that ratio's interval, low end", None),
        ("paired.*_ratio_ci_high", "that ratio's interval, high end", None),
    )

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {}  # the paired session records these (run.paired)
