"""Measuring an item against its reference side, paired in time (``--aibench-against``).

Both sides are prepared with the candidate's settings as several independent session pairs (created in
alternating order), evaluated on the same samples (accuracy compared exactly), each side warmed to its
own steady state, then timed call by call on the same inputs in a seeded random order (each pair's two
calls back to back, who goes first drawn anew: ABBA-like), in rounds over every session pair, with the
garbage collector and any tracer paused. Rounds go on until every rule has a verdict (REGRESSED or
SAME) or the budget is spent: the pairs the rules need at the model's speed (said before it starts),
``max_pairs`` and ``max_pair_seconds``; then the rest is UNKNOWN. An open verdict adds session pairs
(the spread between sessions, not the pairs within one, is what keeps it open). With
``--aibench-against-python`` the reference side runs in that interpreter instead, a lockstep partner
pinned to the same CPUs (``run.partner``), as one session pair.
"""

from __future__ import annotations

import gc
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench import tasks
from pytest_aibench.gen import paired_side
from pytest_aibench.judge.compare import is_timing
from pytest_aibench.judge.paired import (
    PairedVerdict,
    decided,
    judge_accuracy,
    judge_paired,
    needed_per_session,
    pair_ratio,
    percentile_of,
)
from pytest_aibench.measure.timing import YOUNG, paused_instrumentation
from pytest_aibench.run import pinning
from pytest_aibench.run.partner import Partner
from pytest_aibench.tasks import raw as raw_outputs

if TYPE_CHECKING:
    from pytest_aibench.core.model import Settings
    from pytest_aibench.core.result import Result
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
    """One side prepared in this process (every candidate session; the reference unless a partner runs it)."""

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

    def predictions(self, x: np.ndarray, batch: int, raw: bool = False) -> np.ndarray:
        """Class ids, or (``raw``) the outputs a task decodes."""
        got = [self.session.infer(x[i : i + batch]) for i in range(0, len(x), batch)]
        return raw_outputs.concat(got) if raw else np.concatenate([g.argmax(-1) for g in got])

    def close(self) -> None:
        self.session.close()


@contextmanager
def _quiet() -> Iterator[None]:
    """The collector and tracers paused; the young generations collected first (not the whole heap: see
    :func:`~pytest_aibench.measure.timing.time_calls`)."""
    enabled = gc.isenabled()
    gc.collect(YOUNG)
    gc.disable()
    try:
        with paused_instrumentation():
            yield
    finally:
        if enabled:
            gc.enable()


def interleave(
    candidate: Callable[[int], int],
    reference: Callable[[int], int],
    n: int,
    start: int,
    inputs: int,
    rng: random.Random,
    quiet: bool = True,
) -> tuple[list[int], list[int]]:
    """``n`` pairs: each the same input on both sides, back to back, the order drawn per pair (with the
    collector and tracers paused, unless the caller has paused them for a whole round: ``quiet=False``)."""
    ref, cand = [0] * n, [0] * n
    with _quiet() if quiet else nullcontext():
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
    return allowed[: max(1, threads)]


def _new_threads(before: set[int], call: Callable[[], Any]) -> set[int]:
    """The threads of this process that ``call`` (preparing a side and one call on it) started."""
    call()
    return pinning.tasks() - before


def steady(call: Callable[[int], int], inputs: int, policy: int | str) -> dict[str, Any]:
    """Warm one side to its steady state, detected on that side alone: windows of calls (about 0.2 s,
    3 to 20 calls) until two consecutive window medians agree within 2 %, after at least ``policy``
    calls when it is a count; capped at 2,000 calls or 5 s. Returns what was seen (the first call's
    time is kept apart: a side that is only slower to warm up is reported as such, not as slower)."""
    first = call(0)
    second = call(1 % inputs)
    window = max(3, min(20, int(WARM_WINDOW_S / max(second / 1e9, 1e-7))))
    back = 2 if window < 10 else 4  # compare with the window this many back: a slow decay shows as a drift
    at_least = int(policy) if policy != "stable" else 0
    calls, medians, stable = 2, [float(second)], False
    start = time.perf_counter()
    with _quiet():
        while calls < WARM_MAX_CALLS and time.perf_counter() - start < WARM_MAX_SECONDS:
            medians.append(float(np.median([call((calls + k) % inputs) for k in range(window)])))
            calls += window
            if (
                len(medians) > back
                and calls >= at_least
                and abs(medians[-1] - medians[-1 - back]) <= WARM_TOLERANCE * medians[-1 - back]
            ):
                stable = True
                break
    median = medians[-1]
    return {"first_call_ns": first, "calls": calls, "median_ns": median, "stable": stable}


def _make_into(made: dict[str, Any], key: str, make: Callable[[], Any]) -> None:
    made[key] = make()


class SessionPairs:
    """Both sides as independent sessions: pair j is (reference j, candidate j), created in alternating
    order (reference first for even j) so neither side always gets the first allocation."""

    def __init__(
        self,
        make_reference: Callable[[], Any],
        make_candidate: Callable[[], Any],
        inputs: list[np.ndarray],
        policy: int | str,
    ):
        self.make_reference, self.make_candidate = make_reference, make_candidate
        self.inputs, self.policy = inputs, policy
        self.pairs: list[tuple[Any, Any]] = []
        self.warm: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.ref_threads: set[int] = set()
        self.cand_threads: set[int] = set()

    def add(self, count: int, warm: bool = True) -> None:
        """``count`` more session pairs, warmed now unless ``warm`` is False (then :meth:`warm_up` does it,
        once the threads are placed)."""
        for _ in range(count):
            made: dict[str, Any] = {}
            order = ("ref", "cand") if len(self.pairs) % 2 == 0 else ("cand", "ref")
            seen = pinning.tasks()
            for side in order:
                make = self.make_reference if side == "ref" else self.make_candidate
                new = _new_threads(seen, partial(_make_into, made, side, make))
                seen |= new
                (self.ref_threads if side == "ref" else self.cand_threads).update(new)
            self.pairs.append((made["ref"], made["cand"]))
        if warm:
            self.warm_up()

    def warm_up(self) -> None:
        """Each side of every session pair not yet warmed, to its own steady state."""
        n = len(self.inputs)
        for ref, cand in self.pairs[len(self.warm) :]:
            self.warm.append((steady(ref.timed, n, self.policy), steady(cand.timed, n, self.policy)))

    def close(self) -> None:
        for ref, cand in self.pairs:
            ref.close()
            cand.close()


def _task(plan: Any) -> str:
    """The plan's task (a stand-in plan without one, as tests build, is classification)."""
    return getattr(plan, "task", "classification")


def reference_quality(plan: Plan, side: Any, xa: np.ndarray, y: np.ndarray, dataset: Any, batch: int) -> dict:
    """The reference side's quality on the samples the candidate was judged on: top-1, or every figure its
    task scores (so a rule on ``qa.exact_match``, not only the headline, is judged); ``accuracy`` is the headline."""
    if not tasks.is_dense(_task(plan)):
        return {"accuracy": float((side.predictions(xa, batch) == y).mean())}
    task = tasks.task_of(_task(plan))
    raw = side.predictions(xa, batch, raw=True) if isinstance(side, LocalSide) else side.predictions(xa, batch)
    scores = task.score(task.decode(raw, y, dataset, tasks.input_hw(xa)), y, dataset)  # a partner sends raw outputs
    numbers = {k: float(v) for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {**numbers, "accuracy": numbers[task.headline]}


def compare(
    plan: Plan,
    against: Against,
    runner: Runner,
    session: RunnerSession,
    dataset: Any,
    result: Result,
    progress: Any = None,
) -> None:
    """Measure the reference side beside the candidate (already measured into ``result``), both as
    several fresh session pairs, and record both sides' samples and every rule's verdict on ``result``."""
    artifact = against.artifact
    assert artifact is not None
    s = paired_settings(plan.settings)
    rs = against.reference_settings(s)  # REF's device and runtime options: a change of them is compared
    x, y = dataset.eval_subset(s.eval_samples)
    xa = session.adapt(x)
    lb = s.latency_batch
    inputs = [np.ascontiguousarray(xa[i * lb : (i + 1) * lb]) for i in range(min(len(xa) // lb, INPUTS) or 1)]

    def make_reference() -> Any:
        if against.python:
            return Partner(against.python, plan, artifact, xa, inputs, rs)
        return _side(runner.prepare(artifact, plan.node, rs))

    def make_candidate() -> Any:
        return _side(runner.prepare(plan.artifact, plan.node, s))

    def _side(session: RunnerSession) -> Any:
        side = paired_side.side_for(plan, session, inputs) or LocalSide(session, inputs)  # a decoder times TPOT
        side.session.infer(inputs[0])
        return side

    pairs = SessionPairs(make_reference, make_candidate, inputs, s.warmup)
    placement = None
    try:
        pairs.add(1 if against.python else max(1, s.paired_sessions), warm=False)  # a partner holds one session
        ref0 = pairs.pairs[0][0]
        ref_quality = reference_quality(plan, ref0, xa, y, dataset, s.batch_size)
        cpus = _cpus(plan.node.threads)
        placement = (
            pinning.place_partner(cpus, pairs.cand_threads, ref0.pid)
            if isinstance(ref0, Partner)
            else pinning.place_local(cpus, pairs.ref_threads, pairs.cand_threads)
        )
        try:
            pairs.warm_up()  # on the CPUs the threads were just placed on
            loop = _time(plan, against, pairs, result, ref_quality, progress)
        finally:
            if placement is not None:
                placement.restore()
        environment = {"options": getattr(ref0, "options", None), **ref0.environment}
        environment |= {"candidate_options": pairs.pairs[0][1].options, "platform": against.platform_pair(s)}
    finally:
        pairs.close()
    _record(
        result,
        against,
        loop,
        ref_quality["accuracy"],
        environment,
        placement.describe() if placement is not None else None,
        pairs.warm,
    )


#: warm-up windows of about this long, the steady-state tolerance and caps per side and session
WARM_WINDOW_S = 0.2
WARM_TOLERANCE = 0.02
WARM_MAX_CALLS = 2000
WARM_MAX_SECONDS = 5.0
#: consecutive pairs a session pair gives per round (rounds visit every session pair in a shuffled order)
ROUND_PAIRS = 10
#: an open verdict adds 2 session pairs once each has this many times the pairs its rules need
GROW_AT = 4
MAX_SESSIONS = 32
#: the budget a slow model may take beyond max_pair_seconds to reach the pairs a verdict needs
MAX_AUTO_SECONDS = 240.0


@dataclass
class Loop:
    verdicts: list[PairedVerdict]
    ref_ns: list[int]
    cand_ns: list[int]
    sessions: list[int]
    seconds: float
    budget_s: float
    planned: str


def _plan_budget(plan: Plan, against: Against, pairs: SessionPairs, timing: list[Any]) -> tuple[float, int, str]:
    """(seconds budget, pairs needed, what it says before it starts): the budget is set by the pairs the
    rules need at this model's speed, not only by max_pair_seconds."""
    call_s = float(np.median([w["median_ns"] for both in pairs.warm for w in both])) / 1e9
    k = len(pairs.pairs)
    need = k * max([needed_per_session(percentile_of(r.metric)) for r in timing] or [0])
    expected = need * 2 * call_s
    budget = max(against.max_seconds, min(4 * expected, MAX_AUTO_SECONDS))
    said = (
        f"paired: {k} session pair{'s' * (k != 1)} a side, at least {need} pairs at {call_s * 1e3:.3g} ms a call: "
        f"about {max(expected, plan.settings.min_pair_seconds):.0f} s, at most {budget:.0f} s"
    )
    if expected > budget:
        said += " (too little for the rules' percentiles: expect UNKNOWN; raise max_pair_seconds)"
    return budget, need, said


def _time(
    plan: Plan, against: Against, pairs: SessionPairs, result: Result, ref_quality: dict[str, float], progress: Any
) -> Loop:
    """Rounds of interleaved pairs over every session pair until every latency rule is decided or the
    budget is spent."""
    timing = [r for r in against.rules if is_timing(r.metric)]
    budget, need, said = _plan_budget(plan, against, pairs, timing)
    if progress is not None:
        progress.note(said)
    rng = random.Random(plan.seed)
    loop = Loop([], [], [], [], 0.0, budget, said)
    # each session pair starts at its own seeded place in the inputs, so a few pairs a session still cover
    # the inputs between them (an input-dependent model's mix of paths is sampled, not its first inputs)
    offsets = [rng.randrange(len(pairs.inputs)) for _ in pairs.pairs]
    check_at = max(need, 1)
    with _quiet():  # the collector and tracers paused for the whole loop: one collection before, none between
        _rounds(plan, against, pairs, loop, rng, offsets, check_at, need)
    headline = "accuracy" if not tasks.is_dense(_task(plan)) else tasks.task_of(_task(plan)).headline
    mine = {**result.metrics, "accuracy": result.metrics.get(headline)}  # the headline stands for accuracy
    loop.verdicts += [
        judge_accuracy(rule, ref_quality[rule.metric], mine.get(rule.metric))
        for rule in against.rules
        if rule.metric in ref_quality
    ]
    for v in loop.verdicts:
        if v.outcome == "UNKNOWN" and v.ratio is not None:
            v.why = (
                f"{v.why}; still undecided after {v.pairs} pairs on {len(pairs.pairs)} session pairs and "
                f"{v.seconds:.1f} s (budget: max_pairs {against.max_pairs}, {budget:.0f} s): inconclusive"
            )
    return loop


def _rounds(
    plan: Plan,
    against: Against,
    pairs: SessionPairs,
    loop: Loop,
    rng: random.Random,
    offsets: list[int],
    check_at: int,
    need: int,
) -> None:
    s = plan.settings
    need_each = max(1, need // max(1, len(pairs.pairs)))
    done = [0] * len(pairs.pairs)  # pairs measured on each session pair
    timing = [r for r in against.rules if is_timing(r.metric)]
    budget = loop.budget_s
    start = time.perf_counter()
    while True:
        order = list(range(len(pairs.pairs)))
        rng.shuffle(order)
        for j in order:
            ref, cand = pairs.pairs[j]
            r, c = interleave(
                cand.timed, ref.timed, ROUND_PAIRS, offsets[j] + done[j], len(pairs.inputs), rng, quiet=False
            )
            done[j] += ROUND_PAIRS
            loop.ref_ns += r
            loop.cand_ns += c
            loop.sessions += [j] * ROUND_PAIRS
        loop.seconds = time.perf_counter() - start
        out_of_budget = len(loop.ref_ns) >= against.max_pairs or loop.seconds >= budget
        if len(loop.ref_ns) >= check_at or out_of_budget:
            check_at = int(len(loop.ref_ns) * 1.25) + 1
            loop.verdicts = [
                judge_paired(rule, loop.ref_ns, loop.cand_ns, loop.seconds, plan.seed, loop.sessions) for rule in timing
            ]
            if decided(loop.verdicts) and loop.seconds >= s.min_pair_seconds:
                break
            if (
                not decided(loop.verdicts)
                and min(done) >= GROW_AT * need_each
                and len(pairs.pairs) < min(MAX_SESSIONS, 4 * max(1, s.paired_sessions))
                and not against.python
                and not out_of_budget
            ):
                pairs.add(2)  # the spread between session pairs keeps it open: sample more of them
                offsets += [rng.randrange(len(pairs.inputs)) for _ in range(2)]
                done += [0, 0]
        if out_of_budget:
            break
    loop.seconds = time.perf_counter() - start


def _record(
    result: Result,
    against: Against,
    loop: Loop,
    ref_accuracy: float,
    environment: dict[str, Any],
    placement: dict[str, Any] | None,
    warm: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    verdicts = loop.verdicts
    result.samples["paired_reference_ns"] = list(loop.ref_ns)
    result.samples["paired_candidate_ns"] = list(loop.cand_ns)
    result.samples["paired_session"] = list(loop.sessions)
    worst = (
        "REGRESSED"
        if any(v.outcome == "REGRESSED" for v in verdicts)
        else "UNKNOWN"
        if any(v.outcome == "UNKNOWN" for v in verdicts)
        else "SAME"
    )
    first = [c["first_call_ns"] / max(r["first_call_ns"], 1) for r, c in warm]
    sessions = len(warm)
    result.info["against"] = {
        **against.describe(),
        "status": "compared",
        "outcome": worst,
        "pairs": len(loop.ref_ns),
        "seconds": round(loop.seconds, 3),
        "budget_s": round(loop.budget_s, 1),
        "planned": loop.planned,
        "sessions": sessions,
        "reference_accuracy": ref_accuracy,
        "platform": environment.pop("platform", None),  # each side's device and runtime options
        "reference_environment": environment,
        "placement": placement,
        "warmup": [{"reference": r, "candidate": c} for r, c in warm],
        "order": "seeded random per pair (ABBA-like), same inputs, GC and tracers paused; each "
        f"side prepared as {sessions} fresh session(s) in alternating creation order, "
        "rounds over every session pair in a shuffled order, each side warmed to its "
        "own steady state first; the same settings (intra-op spinning off unless "
        "set; OMP_WAIT_POLICY " + os.environ.get("OMP_WAIT_POLICY", "unset") + "), the "
        "calling thread and each side's own workers on the same CPUs",
        "verdicts": [v.to_dict() for v in verdicts],
    }
    result.metrics.update(
        {
            "paired.outcome": worst,
            "paired.pairs": len(loop.ref_ns),
            "paired.seconds": loop.seconds,
            "paired.sessions": sessions,
            "paired.reference_accuracy": ref_accuracy,
            "paired.first_call_ratio": float(np.median(first)),
            "paired.warmup_calls_reference": int(np.median([r["calls"] for r, _ in warm])),
            "paired.warmup_calls_candidate": int(np.median([c["calls"] for _, c in warm])),
        }
    )
    pr = pair_ratio(loop.ref_ns, loop.cand_ns)
    if pr is not None:
        result.metrics["paired.pair_ratio"] = pr
    for v in verdicts:
        if v.ratio is None:
            continue
        name = v.metric.removeprefix("latency.").removesuffix("_ms")
        result.metrics.update(
            {
                f"paired.{name}_ratio": v.ratio,
                f"paired.{name}_ratio_ci_low": v.ci_low,
                f"paired.{name}_ratio_ci_high": v.ci_high,
            }
        )
