"""The tail every measured item goes through, manifest or hand-written: gates, regression rules
against the baseline, LoadGen validity. Verdicts are recorded on the Result; failures come back as
messages for the caller to fail the item with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_aibench.judge.catalogue import applies
from pytest_aibench.judge.compare import Rule, judge
from pytest_aibench.judge.paired import PairedVerdict

if TYPE_CHECKING:
    from pytest_aibench.core.case import Case
    from pytest_aibench.core.result import Result
    from pytest_aibench.judge.baseline import Baseline

SHOWN = ("accuracy", "latency.p50_ms", "latency.p99_ms", "throughput.ips", "vips")


def check_gates(case: Case, result: Result) -> list[str]:
    """Every gate's verdict into ``result.gates``; the failures as one message."""
    assert case.suite is not None
    failed = []
    task = (result.info.get("task") or {}).get("name")
    own = {g.metric for g in case.suite.models[case.model].gates} if case.model in case.suite.models else set()
    for gate in case.suite.gates_for(case.model):
        value = result.metrics.get(gate.metric)
        if value is None and gate.metric not in own and not applies(gate.metric, task):
            continue  # a suite-wide gate on another task's quality (mAP for a classifier): not this item's
        ok = gate.check(value)
        result.gates.append(
            {
                "metric": gate.metric,
                "op": gate.op,
                "limit": gate.limit,
                "value": value,
                "passed": ok,
                "where": gate.where,
            }
        )
        if not ok:
            shown = "not measured" if value is None else f"{value:.6g}"
            failed.append(f"{gate.metric} = {shown}, required {gate.op} {gate.limit:g} (gate at {gate.where})")
    return ["gate failed: " + "; ".join(failed)] if failed else []


def check_regressions(case: Case, result: Result, baseline: Baseline | None, cli_rules: list[Rule]) -> list[str]:
    """Judge ``result`` against its baseline counterpart with the manifest's rules, overridden by the
    command line's; every verdict is recorded, a regression is a failure."""
    if baseline is None:
        return []
    base = baseline.find(result)
    if base is None:
        result.info["baseline"] = {"path": str(baseline.path), "status": "new: not in the baseline"}
        return []
    rules = {r.metric: r for r in (case.suite.regressions_for(case.model) if case.suite else ())}
    rules.update({r.metric: r for r in cli_rules})
    verdicts = [judge(r, base, result) for r in rules.values()]
    result.info["baseline"] = {
        "path": str(baseline.path),
        "status": "matched",
        "seed": base.seed,
        "metrics": {k: base.metrics[k] for k in SHOWN if k in base.metrics},
        "verdicts": [
            {
                "rule": str(v.rule),
                "metric": v.rule.metric,
                "baseline": v.baseline,
                "current": v.current,
                "change": v.change,
                "regressed": v.regressed,
                "inconclusive": v.inconclusive,
                "evidence": v.evidence,
                "message": v.message(),
            }
            for v in verdicts
        ],
    }
    regressed = [v for v in verdicts if v.regressed]
    if not regressed:
        return []
    return [f"regression against {baseline.path.name}: " + " | ".join(v.message() for v in regressed)]


def check_loadgen(case: Case, result: Result, require_valid: bool) -> list[str]:
    """An INVALID LoadGen run is flagged, or fails the item when the manifest requires valid runs."""
    if not case.scenario or result.metrics.get("loadgen.valid") is not False:
        return []
    why = f"LoadGen result INVALID: {result.metrics.get('loadgen.invalid_reason', 'see its logs')}"
    if not require_valid:
        result.flags.append(why)
        return []
    result.outcome, result.reason = "failed", why
    logs = result.info.get("loadgen", {}).get("logs")
    return [f"{case.id}: {why} (require_valid is set; logs: {logs})"]


def check_against(result: Result, unknown_fails: bool) -> list[str]:
    """The paired verdicts measured beside the reference: REGRESSED fails; UNKNOWN (the budget spent,
    still undecided) is flagged as inconclusive, or fails with ``--aibench-against-unknown=fail``."""
    info = result.info.get("against") or {}
    verdicts = info.get("verdicts") or []
    regressed = [v for v in verdicts if v.get("outcome") == "REGRESSED"]
    unknown = [v for v in verdicts if v.get("outcome") == "UNKNOWN"]
    ref = info.get("ref", "the reference")
    status = str(info.get("status", ""))
    if unknown_fails and status.startswith("not compared"):
        return [f"against {ref}: {status} (--aibench-against-unknown fail)"]
    for v in unknown:
        result.flags.append(f"INCONCLUSIVE against {ref}: {PairedVerdict(**v).message()}")
    bad = regressed + (unknown if unknown_fails else [])
    if not bad:
        return []
    return [f"against {ref}: " + " | ".join(PairedVerdict(**v).message() for v in bad)]


def check_all(
    case: Case,
    result: Result,
    baseline: Baseline | None,
    cli_rules: list[Rule],
    require_valid: bool,
    unknown_fails: bool = False,
) -> list[str]:
    """The whole tail: gates, regressions (against a baseline, or paired against a reference),
    LoadGen validity. Records outcome and reason on a failure."""
    failures = (
        check_gates(case, result)
        + check_regressions(case, result, baseline, cli_rules)
        + check_against(result, unknown_fails)
    )
    if failures:
        result.outcome, result.reason = "failed", "; ".join(failures)
        return [f"aibench {result.reason}"]
    return check_loadgen(case, result, require_valid)
