"""The paired verdict's statistics (no pytest run): noise common to both sides cancels, a real
slowdown is REGRESSED, a change at the tolerance is UNKNOWN, tails need enough blocks."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aibench.judge.catalogue import known_metric_names
from pytest_aibench.judge.compare import parse_rules
from pytest_aibench.judge.paired import REGRESSED, SAME, UNKNOWN, judge_accuracy, judge_paired, pair_ratio
from pytest_aibench.run.paired import interleave


def rule(text: str):  # noqa: ANN201
    (r,) = parse_rules(text, known_metric_names())
    return r


def noisy_machine(n: int, seed: int) -> np.ndarray:
    """Per-pair machine speed on a shared VM: slow spells (x1.3 to x2.5, hundreds of pairs long)
    on top of jitter; both sides of a pair see the same spell."""
    rng = np.random.default_rng(seed)
    speed = np.ones(n)
    k = 0
    while k < n:
        length = int(rng.integers(50, 400))
        if rng.random() < 0.4:
            speed[k : k + length] = rng.uniform(1.3, 2.5)
        k += length
    return 60_000 * speed


def sides(n: int, slowdown: float, seed: int, jitter: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    base = noisy_machine(n, seed)
    ref = base * rng.lognormal(0, jitter, n)
    cand = base * slowdown * rng.lognormal(0, jitter, n)
    return ref.astype(np.int64), cand.astype(np.int64)


def test_common_noise_cancels_same_and_ten_percent_regressed() -> None:
    r5 = rule("latency.p50:+5%")
    for seed in range(10):
        ref, cand = sides(2000, 1.0, seed)
        assert judge_paired(r5, ref, cand, 1.0).outcome == SAME
        ref, cand = sides(2000, 1.10, seed)
        v = judge_paired(r5, ref, cand, 1.0)
        assert v.outcome == REGRESSED and v.ci_low > 1.05 and abs(v.ratio - 1.10) < 0.01


def test_a_slow_phase_fools_an_unpaired_comparison_not_the_pairs() -> None:
    """The reason for pairing: a baseline measured in a slow phase and a candidate 10 % slower
    measured after it look like a speed-up unpaired; the pairs see the 10 %."""
    rng = np.random.default_rng(5)
    phase = np.r_[np.full(2000, 1.6), np.ones(2000)] * 60_000
    ref = phase * rng.lognormal(0, 0.03, 4000)
    cand = phase * 1.10 * rng.lognormal(0, 0.03, 4000)
    assert np.median(cand[2000:]) / np.median(ref[:2000]) < 0.75  # unpaired: "31 % faster"
    v = judge_paired(rule("latency.p50:+5%"), ref, cand, 1.0)
    assert v.outcome == REGRESSED and abs(v.ratio - 1.10) < 0.01


def test_change_at_the_tolerance_is_unknown_with_the_reason() -> None:
    ref, cand = sides(2000, 1.05, 1)
    v = judge_paired(rule("latency.p50:+5%"), ref, cand, 2.0)
    assert v.outcome == UNKNOWN and "straddles" in v.why and v.ci_low < 1.05 < v.ci_high
    assert "UNKNOWN" in v.message() and "2000 interleaved pairs" in v.message()


def test_too_few_pairs_and_absolute_rules_are_unknown() -> None:
    ref, cand = sides(20, 2.0, 1)
    v = judge_paired(rule("latency.p50:+5%"), ref, cand, 0.1)
    assert v.outcome == UNKNOWN and "only 20 pairs a session pair" in v.why
    ref, cand = sides(2000, 2.0, 1)
    v = judge_paired(rule("latency.p50:+0.5ms"), ref, cand, 0.1)
    assert v.outcome == UNKNOWN and "relative" in v.why


def test_tail_rule_needs_its_pairs_in_every_session_and_sees_a_heavier_tail() -> None:
    r = rule("latency.p99:+10%")
    ref, cand = sides(3000, 1.0, 2)
    six = np.repeat(np.arange(6), 500)
    v = judge_paired(r, ref, cand, 1.0, sessions=six)
    assert v.outcome == UNKNOWN and "the p99 needs 1000" in v.why  # 500 pairs a session: too few for a p99
    ref, cand = sides(12000, 1.0, 2)
    six = np.tile(np.repeat(np.arange(6), 10), 200)
    assert judge_paired(rule("latency.p99:+20%"), ref, cand, 1.0, sessions=six).outcome == SAME
    rng = np.random.default_rng(9)
    spikes = np.where(rng.random(12000) < 0.03, 3.0, 1.0)  # 3 % of the candidate's calls take x3
    heavy = (cand * spikes).astype(np.int64)
    v = judge_paired(r, ref, heavy, 1.0, sessions=six)
    assert v.outcome == REGRESSED
    assert judge_paired(rule("latency.p50:+5%"), ref, heavy, 1.0, sessions=six).outcome == SAME


def test_mean_rule() -> None:
    ref, cand = sides(2000, 1.2, 4)
    v = judge_paired(rule("latency.mean:+10%"), ref, cand, 1.0)
    assert v.outcome == REGRESSED and 1.15 < v.ratio < 1.25


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.2, 5.0), min_size=150, max_size=400), st.integers(0, 2**16), st.floats(0.01, 100.0))
def test_noise_common_to_a_pair_never_moves_the_pair_ratio_and_a_common_scale_never_moves_the_verdict(
    factors: list[float], seed: int, scale: float
) -> None:
    ref, cand = sides(len(factors), 1.07, seed)
    f = np.asarray(factors)
    assert abs(pair_ratio(ref * f, cand * f) - pair_ratio(ref, cand)) < 1e-9
    r = rule("latency.p50:+5%")
    sessions = np.arange(len(factors)) % 4
    plain = judge_paired(r, ref, cand, 1.0, seed, sessions)
    scaled = judge_paired(r, ref * scale, cand * scale, 1.0, seed, sessions)
    assert scaled.outcome == plain.outcome and abs(scaled.ratio - plain.ratio) < 1e-9 * plain.ratio


def test_accuracy_is_compared_exactly() -> None:
    assert judge_accuracy(rule("accuracy:-0"), 0.95, 0.95).outcome == SAME
    assert judge_accuracy(rule("accuracy:-0"), 0.95, 0.9499).outcome == REGRESSED
    assert judge_accuracy(rule("accuracy:-0.01"), 0.95, 0.945).outcome == SAME
    assert judge_accuracy(rule("accuracy:-1%"), 0.95, 0.93).outcome == REGRESSED
    assert judge_accuracy(rule("accuracy:-0"), None, 0.9).outcome == UNKNOWN


def test_interleave_pairs_the_same_input_in_a_seeded_random_order() -> None:
    calls: list[tuple[str, int]] = []

    def side(name: str):  # noqa: ANN202
        def timed(i: int) -> int:
            calls.append((name, i))
            return 1

        return timed

    interleave(side("cand"), side("ref"), 200, 5, 16, random.Random(7))
    pairs = [calls[k : k + 2] for k in range(0, len(calls), 2)]
    assert all(a[1] == b[1] and {a[0], b[0]} == {"cand", "ref"} for a, b in pairs)
    assert [p[0][1] for p in pairs[:3]] == [5, 6, 7]
    firsts = [p[0][0] for p in pairs]
    assert 60 < firsts.count("ref") < 140
    calls_before = list(calls)
    calls.clear()
    interleave(side("cand"), side("ref"), 200, 5, 16, random.Random(7))
    again = list(calls)
    assert again == calls_before
