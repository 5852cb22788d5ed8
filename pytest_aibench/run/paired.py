"""Measuring an item against its reference side, paired in time (``--aibench-against``).

Both sides are prepared with the candidate's settings, evaluated on the same samples (accuracy
compared exactly), warmed up, then timed call by call on the same inputs in a seeded random order
(each pair's two calls back to back, who goes first drawn anew: ABBA-like), with the garbage
collector and any tracer paused. Pairs are measured in batches until every rule has a verdict
(REGRESSED or SAME) or the budget (``max_pairs``, ``max_pair_seconds``) is spent; then the rest is
UNKNOWN. With ``--aibench-against-python`` the reference side runs in that interpreter instead, a
lockstep partner pinned to the same CPUs (``run.partner``).
"""

from __future__ import annotations

import gc
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench.judge.compare import is_timing
from pytest_aibench.judge.paired import PairedVerdict, decided, judge_accuracy, judge_paired
from pytest_aibench.measure.timing import paused_instrumentation, warm_up
from pytest_aibench.run import pinning
from pytest_aibench.run.partner import Partner

if TYPE_CHECKING:
    from pytest_aibench.manifest.model import Settings
    from pytest_aibench.report.result import Result
    from pytest_aibench.run.against import Against
    from pytest_aibench.run.plan import Plan
    from pytest_aibench.runtimes import Runner, RunnerSession

#: distinct inputs cycled by the paired loop (as the built-in latency loop does)
INPUTS = 256
#: the first batch of pairs: the fewest a verdict rests on, so a slow model (or a slowed machine) decides
#: in seconds; quick models go on doubling up to min_pair_seconds
FIRST_BATCH = 100
MIN_BATCH = 50


class LocalSide:
    """The reference prepared in this process."""

    def __init__(self, session: RunnerSession, inputs: list[np.ndarray]):
        self.session, self.inputs = session, inputs
        self.environment: dict[str, Any] = {"where": "this process"}
        self.options = dict(getattr(session, "options", {}) or {})

    def timed(self, i: int) -> int:
        x = self.inputs[i]
        clock = time.perf_counter_ns
        t0 = clock()
        self.session.infer(x)
        return clock() - t0

    def predictions(self, x: np.ndarray, batch: int) -> np.ndarray:
        return np.concatenate([self.session.infer(x[i:i + batch]).argmax(-1) for i in range(0, len(x), batch)])

    def warm(self, policy: int | str) -> None:
        warm_up(self.session.infer, self.inputs, policy)

    def close(self) -> None:
        self.session.close()


@contextmanager
def _quiet() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        with paused_instrumentation():
            yield
    finally:
        if enabled:
            gc.enable()


def interleave(candidate: Callable[[int], int], reference: Callable[[int], int], n: int, start: int,
               inputs: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """``n`` pairs: each the same input on both sides, back to back, the order drawn per pair."""
    ref, cand = [0] * n, [0] * n
    with _quiet():
        for k in range(n):
            i = (start + k) % inputs
            if rng.random() < 0.5:
                ref[k] = reference(i)
                cand[k] = candidate(i)
            else:
                cand[k] = candidate(i)
                ref[k] = reference(i)
    return ref, cand


def paired_settings(settings: Settings) -> Settings:
    """Both sides' settings: the item's, with intra-op spinning off unless the manifest sets it. Two
    ONNX Runtime sessions in one process each own a thread pool whose workers spin after a call, so
    the side that just ran takes a core from the side that runs next (A/A ratios 0.91-1.05 measured
    with spinning, 0.997-1.001 without; with one thread each, 1.000 either way)."""
    return settings if settings.spin_wait is not None else replace(settings, spin_wait=False)


def _cpus(threads: int) -> list[int]:
    """The CPUs both sides run on: the first ``threads`` this process may use."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    return allowed[:max(1, threads)]


def _new_threads(before: set[int], call: Callable[[], Any]) -> set[int]:
    """The threads of this process that ``call`` (preparing a side and one call on it) started."""
    call()
    return pinning.tasks() - before


def compare(plan: Plan, against: Against, runner: Runner, session: RunnerSession, dataset: Any,
            result: Result) -> None:
    """Measure the reference side beside ``session`` (the candidate, already measured into ``result``)
    and record both sides' samples and every rule's verdict on ``result``."""
    artifact = against.artifact
    assert artifact is not None
    s = paired_settings(plan.settings)
    x, y = dataset.eval_subset(s.eval_samples)
    xa = session.adapt(x)
    lb = s.latency_batch
    inputs = [np.ascontiguousarray(xa[i * lb:(i + 1) * lb]) for i in range(min(len(xa) // lb, INPUTS) or 1)]
    sides: dict[str, Any] = {}
    seen = pinning.tasks()

    def prepare_reference() -> None:
        if against.python:
            sides["ref"] = Partner(against.python, plan, artifact, xa, inputs, s)
        else:
            sides["ref"] = LocalSide(runner.prepare(artifact, plan.node, s), inputs)
            sides["ref"].session.infer(inputs[0])

    def prepare_candidate() -> None:  # afresh, as the reference side is
        sides["cand"] = runner.prepare(plan.artifact, plan.node, s)
        sides["cand"].infer(inputs[0])

    placement = None
    try:
        ref_threads = _new_threads(seen, prepare_reference)
        cand_threads = _new_threads(seen | ref_threads, prepare_candidate)
        ref: LocalSide | Partner = sides["ref"]
        cand = sides["cand"]
        ref_preds = ref.predictions(xa, s.batch_size)
        ref_accuracy = float((ref_preds == y).mean())
        cpus = _cpus(plan.node.threads)
        placement = (pinning.place_partner(cpus, cand_threads, ref.pid) if isinstance(ref, Partner)
                     else pinning.place_local(cpus, ref_threads, cand_threads))
        try:
            verdicts, ref_ns, cand_ns, seconds = _time(plan, against, cand, ref, inputs, result, ref_accuracy)
        finally:
            if placement is not None:
                placement.restore()
        environment = {"options": getattr(ref, "options", None), **ref.environment}
        cand_options = dict(getattr(cand, "options", {}) or {})
    finally:
        for side in sides.values():
            side.close()
    environment["candidate_options"] = cand_options
    _record(result, against, verdicts, ref_ns, cand_ns, seconds, ref_accuracy, environment,
            placement.describe() if placement is not None else None)


def _time(plan: Plan, against: Against, session: RunnerSession, ref: LocalSide | Partner, inputs: list[np.ndarray],
          result: Result, ref_accuracy: float) -> tuple[list[PairedVerdict], list[int], list[int], float]:
    """Batches of interleaved pairs until every latency rule is decided or the budget is spent."""
    s = plan.settings
    warm_up(session.infer, inputs, s.warmup)
    ref.warm(s.warmup)
    clock = time.perf_counter_ns

    def candidate(i: int) -> int:
        x = inputs[i]
        t0 = clock()
        session.infer(x)
        return clock() - t0

    rng = random.Random(plan.seed)
    timing = [r for r in against.rules if is_timing(r.metric)]
    ref_ns: list[int] = []
    cand_ns: list[int] = []
    start = time.perf_counter()
    batch = FIRST_BATCH
    verdicts: list[PairedVerdict] = []
    while True:
        n = min(batch, against.max_pairs - len(ref_ns))
        if ref_ns:  # never run far past the time budget: a doubled batch of slow calls could take minutes
            rate = len(ref_ns) / max(time.perf_counter() - start, 1e-6)
            n = max(MIN_BATCH, min(n, int(rate * (against.max_seconds - (time.perf_counter() - start))) + 1))
        r, c = interleave(candidate, ref.timed, n, len(ref_ns), len(inputs), rng)
        ref_ns += r
        cand_ns += c
        seconds = time.perf_counter() - start
        verdicts = [judge_paired(rule, ref_ns, cand_ns, seconds, plan.seed) for rule in timing]
        if len(ref_ns) >= against.max_pairs or seconds >= against.max_seconds:
            break
        if decided(verdicts):
            if seconds >= s.min_pair_seconds:
                break
            batch = int(len(ref_ns) / max(seconds, 1e-6) * (s.min_pair_seconds - seconds)) + 1  # the rest of it
        else:
            batch *= 2
    accuracy = result.metrics.get("accuracy")
    verdicts += [judge_accuracy(rule, ref_accuracy, accuracy) for rule in against.rules if rule.metric == "accuracy"]
    for v in verdicts:
        if v.outcome == "UNKNOWN" and v.ratio is not None:
            v.why = (f"{v.why}; still undecided after {v.pairs} pairs and {v.seconds:.1f} s "
                     f"(budget: max_pairs {against.max_pairs}, max_pair_seconds {against.max_seconds:g}): inconclusive")
    return verdicts, ref_ns, cand_ns, time.perf_counter() - start


def _record(result: Result, against: Against, verdicts: list[PairedVerdict], ref_ns: list[int], cand_ns: list[int],
            seconds: float, ref_accuracy: float, environment: dict[str, Any], placement: dict[str, Any] | None) -> None:
    result.samples["paired_reference_ns"] = list(ref_ns)
    result.samples["paired_candidate_ns"] = list(cand_ns)
    worst = "REGRESSED" if any(v.outcome == "REGRESSED" for v in verdicts) else \
        "UNKNOWN" if any(v.outcome == "UNKNOWN" for v in verdicts) else "SAME"
    result.info["against"] = {**against.describe(), "status": "compared", "outcome": worst, "pairs": len(ref_ns),
                              "seconds": round(seconds, 3), "reference_accuracy": ref_accuracy,
                              "reference_environment": environment, "placement": placement,
                              "order": "seeded random per pair (ABBA-like), same inputs, GC and tracers paused; both "
                                       "sides prepared afresh with the same settings (intra-op spinning off unless "
                                       "set; OMP_WAIT_POLICY " + os.environ.get("OMP_WAIT_POLICY", "unset") + "), the "
                                       "calling thread and each side's own workers on the same CPUs",
                              "verdicts": [v.to_dict() for v in verdicts]}
    result.metrics.update({"paired.outcome": worst, "paired.pairs": len(ref_ns), "paired.seconds": seconds,
                           "paired.reference_accuracy": ref_accuracy})
    for v in verdicts:
        if v.ratio is None:
            continue
        name = v.metric.removeprefix("latency.").removesuffix("_ms")
        result.metrics.update({f"paired.{name}_ratio": v.ratio, f"paired.{name}_ratio_ci_low": v.ci_low,
                               f"paired.{name}_ratio_ci_high": v.ci_high})
