"""Paired gates that keep their promise: intervals over independent session pairs cover the truth when
sessions differ, rules gate the statistic they name (a p50 is a p50), warm-up is equalised and kept
apart, a slow model's budget is set by the pairs it needs, and every rule means what it says."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from pytest_aibench.judge.catalogue import known_metric_names, metric_directions
from pytest_aibench.judge.compare import parse_rules
from pytest_aibench.judge.paired import REGRESSED, SAME, UNKNOWN, judge_accuracy, judge_paired, pair_ratio
from pytest_aibench.run import paired


def rule(text: str):  # noqa: ANN201
    (r,) = parse_rules(text, known_metric_names())
    return r


def sessions_run(k: int, per: int, slowdown: float, offset_sd: float, seed: int) -> tuple[np.ndarray, ...]:
    """``k`` session pairs of ``per`` pairs each, interleaved in rounds of 10; each session of each side has
    its own persistent speed offset (lognormal, ``offset_sd``), as fresh runtime sessions do."""
    rng = np.random.default_rng(seed)
    off_ref, off_cand = rng.lognormal(0, offset_sd, k), rng.lognormal(0, offset_sd, k)
    sess = np.tile(np.repeat(np.arange(k), 10), per // 10)
    base = 50_000 * rng.lognormal(0, 0.03, len(sess))
    ref = base * off_ref[sess] * rng.lognormal(0, 0.02, len(sess))
    cand = base * slowdown * off_cand[sess] * rng.lognormal(0, 0.02, len(sess))
    return ref, cand, sess


@pytest.mark.slow
def test_the_interval_over_sessions_covers_an_aa_ratio_that_one_session_pair_misses() -> None:
    r = rule("latency.p50:+2%")
    covered = {"sessions": 0, "one pair": 0}
    trials = 200
    for seed in range(trials):
        ref, cand, sess = sessions_run(6, 200, 1.0, 0.02, seed)
        v = judge_paired(r, ref, cand, 1.0, seed, sess)
        covered["sessions"] += v.ci_low <= 1.0 <= v.ci_high
        one = sess == 0  # what a single session pair sees: its own offset, taken for the truth
        w = judge_paired(r, ref[one], cand[one], 1.0, seed)
        covered["one pair"] += w.ci_low <= 1.0 <= w.ci_high
    assert covered["sessions"] / trials >= 0.97, covered  # the nominal 99 %, with room for 200 trials
    assert covered["one pair"] / trials < 0.6, covered  # within-session noise alone: far too narrow


def test_a_p50_rule_gates_the_p50_even_when_most_pairs_do_not_move() -> None:
    """An input-dependent model: 39 % of inputs take a path 3x heavier; the candidate sends 60 % there.
    Most pairs (the same input on both sides) keep their ratio at 1; the p50 moves by ~3x."""
    rng = np.random.default_rng(3)
    n = 1200
    u = rng.random(n)
    sess = np.tile(np.repeat(np.arange(6), 10), n // 60)
    ref = 40_000 * np.where(u < 0.39, 3.0, 1.0) * rng.lognormal(0, 0.02, n)
    cand = 40_000 * np.where(u < 0.60, 3.0, 1.0) * rng.lognormal(0, 0.02, n)
    assert abs(pair_ratio(ref, cand) - 1.0) < 0.05  # the per-pair median sees nothing
    v = judge_paired(rule("latency.p50:+2%"), ref, cand, 1.0, 0, sess)
    assert v.outcome == REGRESSED and v.ratio > 2.0


def test_warming_up_stops_at_each_sides_own_steady_state() -> None:
    calls = []

    def decaying(i: int) -> int:  # JIT, caches, allocator: three times slower at first, decaying over ~150 calls
        calls.append(i)
        return int(10_000 * (1 + 2 * np.exp(-len(calls) / 150)))

    seen = paired.steady(decaying, 16, 10)
    assert seen["stable"] and seen["calls"] > 300 and seen["median_ns"] < 10_000 * 1.05
    assert seen["first_call_ns"] > 29_000


#: simulated seconds: every fake call advances it by its own time (tests patch paired.time.perf_counter)
CLOCK = {"t": 0.0}


@pytest.fixture(autouse=True)
def simulated_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop's budget and minimum time run on the fake calls' own time: no test depends on the host."""
    CLOCK["t"] = 0.0
    monkeypatch.setattr(paired.time, "perf_counter", lambda: CLOCK["t"])


class FakeSide:
    """A side whose every call takes ``ns`` (times ``offset``)."""

    def __init__(self, ns: float, offset: float = 1.0):
        self.ns, self.offset, self.n = ns, offset, 0
        self.options: dict = {}
        self.environment: dict = {"where": "test"}

    def cost(self) -> float:
        return self.ns * self.offset

    def timed(self, i: int) -> int:
        self.n += 1
        ns = int(self.cost())
        CLOCK["t"] += ns / 1e9
        return ns

    def close(self) -> None:
        pass


class Decaying(FakeSide):
    """Three times slower at first, decaying over ~150 calls (a long warm-up), then as fast as the reference."""

    def cost(self) -> float:
        return self.ns * (1 + 2 * np.exp(-self.n / 150))


def _loop(
    make_ref,
    make_cand,
    rules: str,
    *,
    sessions: int = 6,
    max_seconds: float = 20.0,  # noqa: ANN001, ANN202
    min_seconds: float = 0.0,
):
    settings = SimpleNamespace(warmup=10, paired_sessions=sessions, min_pair_seconds=min_seconds)
    plan = SimpleNamespace(settings=settings, seed=1)
    against = SimpleNamespace(
        rules=tuple(parse_rules(rules, known_metric_names())), max_pairs=20000, max_seconds=max_seconds, python=None
    )
    pairs = paired.SessionPairs(make_ref, make_cand, [np.zeros(1)] * 16, settings.warmup)
    pairs.add(sessions)
    notes: list[str] = []
    loop = paired._time(
        plan, against, pairs, SimpleNamespace(metrics={}), {"accuracy": 1.0}, SimpleNamespace(note=notes.append)
    )
    return loop, pairs, notes


@pytest.mark.slow
def test_a_candidate_only_slower_to_warm_up_is_same_and_its_first_call_is_reported_apart() -> None:
    loop, pairs, notes = _loop(lambda: FakeSide(10_000), lambda: Decaying(10_000), "latency.p50:+2%", min_seconds=0.5)
    assert [v.outcome for v in loop.verdicts] == [SAME]
    result = SimpleNamespace(samples={}, info={}, metrics={})
    paired._record(result, SimpleNamespace(describe=lambda: {}), loop, 1.0, {}, None, pairs.warm)  # type: ignore[arg-type]
    assert result.metrics["paired.first_call_ratio"] > 2.9 and result.metrics["paired.sessions"] >= 6
    assert result.metrics["paired.warmup_calls_candidate"] > 300 > result.metrics["paired.warmup_calls_reference"]
    assert result.samples["paired_session"][:10] == [result.samples["paired_session"][0]] * 10


@pytest.mark.slow
def test_a_slow_model_gets_the_budget_its_pairs_need_and_says_so_first() -> None:
    loop, pairs, notes = _loop(lambda: FakeSide(100e6), lambda: FakeSide(110e6), "latency.p50:+2%")
    assert notes and "6 session pairs a side, at least 150 pairs at 105 ms a call: about 32 s" in notes[0]
    assert loop.budget_s > 20.0 and loop.verdicts[0].outcome == REGRESSED and loop.seconds <= 60


@pytest.mark.slow
def test_sessions_that_disagree_get_company_until_the_verdict_is_honest() -> None:
    offsets = iter(np.random.default_rng(2).lognormal(0, 0.03, 100))
    loop, pairs, _ = _loop(
        lambda: FakeSide(10_000, next(offsets)), lambda: FakeSide(10_000, next(offsets)), "latency.p50:+1%", sessions=3
    )
    assert len(pairs.pairs) > 3  # the spread between session pairs kept it open: more were sampled


DIRECTED = sorted((m, hb) for m, hb in metric_directions().items() if hb is not None)


@pytest.mark.parametrize("metric,higher_is_better", DIRECTED)
def test_every_rule_is_judged_in_its_metrics_own_direction(metric: str, higher_is_better: bool) -> None:
    worse, better = (0.9, 1.1) if higher_is_better else (1.1, 0.9)
    sign = "-" if higher_is_better else "+"
    for zero in ("+0%", "-0", "+0", "-0%"):
        (r,) = parse_rules(f"{metric}:{zero}", known_metric_names())
        assert judge_accuracy(r, 100.0, 100.0 * worse).outcome == REGRESSED, (metric, zero)
        assert judge_accuracy(r, 100.0, 100.0 * better).outcome == SAME, (metric, zero)
    (pct,) = parse_rules(f"{metric}:{sign}5%", known_metric_names())
    assert judge_accuracy(pct, 100.0, 100.0 * worse).outcome == REGRESSED
    assert judge_accuracy(pct, 100.0, 100.0 * (1.01 if not higher_is_better else 0.99)).outcome == SAME
    unit = "ms" if metric.endswith("_ms") else ""
    (absolute,) = parse_rules(f"{metric}:{sign}5{unit}", known_metric_names())
    assert judge_accuracy(absolute, 100.0, 100.0 * worse).outcome == REGRESSED  # a change of 10 against 5
    assert judge_accuracy(absolute, 100.0, 100.0 + (-3 if higher_is_better else 3)).outcome == SAME
    with pytest.raises(ValueError, match="its tolerance is signed"):
        parse_rules(f"{metric}:{'+' if higher_is_better else '-'}5%", known_metric_names())


def test_unknown_stays_unknown_not_same() -> None:
    ref, cand, sess = sessions_run(6, 60, 1.02, 0.0, 0)
    assert judge_paired(rule("latency.p50:+2%"), ref, cand, 1.0, 0, sess).outcome == UNKNOWN


def test_an_unknown_paired_verdict_reaches_the_continuous_benchmarking_exports() -> None:
    from pytest_aibench.core.result import Result
    from pytest_aibench.report.exports import bmf_json, gha_json

    verdict = {
        "rule": "latency.p50:+2%",
        "metric": "latency.p50_ms",
        "outcome": UNKNOWN,
        "ratio": 1.021,
        "ci_low": 1.004,
        "ci_high": 1.039,
        "pairs": 900,
    }
    r = Result(
        id="s::m[ort]",
        suite="s",
        model="m",
        axes={"framework": "onnxruntime"},
        metrics={"latency.p50_ms": 0.5, "latency.p99_ms": 0.9},
        samples={"latency_ns": [500_000] * 10},
        info={"against": {"status": "compared", "verdicts": [verdict]}},
    )
    gated, _, extras = gha_json([r])
    paired_rows = [e for e in gated if "paired" in e["name"]]
    assert paired_rows and paired_rows[0]["value"] == 1.021 and "UNKNOWN" in paired_rows[0]["extra"]
    # paired: the ratio is what the action alerts on; each side's own median is only a chart
    assert not [e for e in gated if "p50 latency" in e["name"] or "p99 latency" in e["name"]] and [
        e for e in extras if "p50 latency" in e["name"]
    ]
    assert [e for e in extras if "p99 latency (extra: tail)" in e["name"]]
    assert bmf_json([r])["s::m[ort]"]["paired-ratio"] == {"value": 1.021, "lower_value": 1.004, "upper_value": 1.039}
