"""Verdicts from paired timings: the reference and the candidate timed call by call, interleaved in
a seeded random order, so that the machine's noise (slow spells lasting milliseconds to minutes on a
shared VM) hits both sides alike.

Each side is prepared as several independent sessions (session pairs), and a run has a persistent
offset between its own two sessions (memory placement, thread placement, code layout: up to a few %
measured here), which no number of pairs within one session pair averages away. So the statistic a
rule names is computed per session pair and the interval is taken over session pairs:

- ``latency.p50``/``p90``/``p99``: the ratio of that percentile of the candidate's calls to the
  reference's (the percentile the rule names, not a median of per-pair ratios); ``latency.mean``:
  the ratio of the means. Per session pair j, r_j = log(candidate stat / reference stat); the
  estimate is exp(mean r_j) and its interval exp(mean ± t(K-1) · sd(r_j)/sqrt(K)) at 99 %, a
  summary-statistics (random-effects) interval over K session pairs, whose Student t keeps the
  stated confidence with few of them. The spread used is never less than one session pair's own
  sampling error (order statistics), so timings quantised by the clock (a 2 µs model) cannot give a
  t interval of width zero by chance. Each session pair needs enough calls for its percentile
  (about 10 beyond it: 1,000 for a p99).
- With fewer than 3 session pairs (a partner interpreter has one) the interval is a moving-block
  bootstrap over consecutive pairs, and the verdict says it rests on one session pair.

The median of per-pair ratios is kept under its own name (``paired.pair_ratio``). Three outcomes, as
Chromium's Pinpoint has: ``REGRESSED`` (the whole interval beyond the tolerance), ``SAME`` (the whole
interval within it), ``UNKNOWN`` (it straddles the tolerance: measure more, else inconclusive). The
interval is at 99 %: the loop looks at it after each round and stops once decided. Nothing here
imports pytest.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from pytest_aibench.core.verdict import LEVEL, REGRESSED, SAME, UNKNOWN, PairedVerdict
from pytest_aibench.judge.compare import Rule

BOOTSTRAP = 1000


def percentile_of(metric: str) -> float | None:
    """``latency.p99_ms`` -> 99; ``latency.mean_ms`` -> None (the mean); the median otherwise."""
    if metric.endswith("mean_ms"):
        return None
    m = re.search(r"\.p(\d+(?:\.\d+)?)(?:_ms)?$", metric)
    return float(m.group(1)) if m else 50.0


def block_length(n: int) -> int:
    """Consecutive pairs per bootstrap block: long enough to span a slow spell of the machine,
    short enough to leave many blocks (about n^(1/2), at least 10)."""
    return max(10, int(round(math.sqrt(n))))


#: Student t quantiles at 0.995 (a two-sided 99 % interval) by degrees of freedom; the normal's beyond
_T995 = (
    63.657,
    9.925,
    5.841,
    4.604,
    4.032,
    3.707,
    3.499,
    3.355,
    3.250,
    3.169,
    3.106,
    3.055,
    3.012,
    2.977,
    2.947,
    2.921,
    2.898,
    2.878,
    2.861,
    2.845,
    2.831,
    2.819,
    2.807,
    2.797,
    2.787,
    2.779,
    2.771,
    2.763,
    2.756,
    2.750,
)
#: fewest calls per side a session pair's figure rests on, and fewest session pairs for the t interval
MIN_PER_SESSION = 25
MIN_SESSIONS = 3


def t995(df: int) -> float:
    return _T995[df - 1] if df <= len(_T995) else 2.576


def needed_per_session(q: float | None) -> int:
    """Calls per side a session pair needs for the q-th percentile (about 10 beyond it), or the mean."""
    return MIN_PER_SESSION if q is None else max(MIN_PER_SESSION, int(math.ceil(10 * 100 / max(1e-9, 100 - q))))


def _stat(q: float | None) -> Any:
    return (lambda x: float(np.mean(x))) if q is None else (lambda x: float(np.percentile(x, q)))


def _bootstrap(values: np.ndarray, stat: Any, block: int, seed: int) -> tuple[float, float]:
    """A moving-block bootstrap interval of ``stat`` over ``values`` (time-ordered; stat on axis -1)."""
    n = len(values)
    rng = np.random.default_rng(seed)
    k = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(BOOTSTRAP, k))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(BOOTSTRAP, -1)[:, :n]
    stats = stat(values[idx])
    tail = (1 - LEVEL) / 2
    return float(np.quantile(stats, tail)), float(np.quantile(stats, 1 - tail))


def _one_session(a: np.ndarray, b: np.ndarray, q: float | None, seed: int) -> tuple[float, float, float]:
    """(log ratio, low, high) from one session pair: a moving-block bootstrap of the pooled statistic."""
    n = len(a)
    thin = max(1, n // 4000)  # bounds the bootstrap's cost: every thin-th pair
    pairs = np.stack([a[::thin], b[::thin]], axis=1)
    block = block_length(len(pairs))
    if q is None:
        stat = lambda x: np.log(x[..., 1].mean(axis=-1)) - np.log(x[..., 0].mean(axis=-1))  # noqa: E731
    else:
        stat = lambda x: np.log(np.percentile(x[..., 1], q, axis=-1)) - np.log(np.percentile(x[..., 0], q, axis=-1))  # noqa: E731
    center = float(stat(pairs))
    lo, hi = _bootstrap(pairs, stat, block, seed)
    return center, lo, hi


def _log_se(x: np.ndarray, q: float | None) -> float:
    """The standard error of log(statistic) of one side's calls: from the order statistics one binomial
    standard deviation either side of the percentile (distribution-free), or of the mean."""
    n = len(x)
    if q is None:
        return float(np.std(x) / (np.mean(x) * math.sqrt(n)))
    xs = np.sort(x)
    p = q / 100
    spread = math.sqrt(n * p * (1 - p))
    lo, hi = max(0, int(math.floor(n * p - spread))), min(n - 1, int(math.ceil(n * p + spread)))
    return float((math.log(xs[hi]) - math.log(xs[lo])) / 2)


def pair_ratio(ref_ns: Any, cand_ns: Any) -> float | None:
    """The median of the per-pair ratios (candidate / reference): robust to noise common to a pair,
    but not the p50 of either side when the mixture of fast and slow calls moves."""
    a, b = np.asarray(ref_ns, np.float64), np.asarray(cand_ns, np.float64)
    n = min(len(a), len(b))
    if n == 0:
        return None
    return float(math.exp(np.median(np.log(np.maximum(b[:n], 1.0)) - np.log(np.maximum(a[:n], 1.0)))))


def judge_paired(
    rule: Rule,
    ref_ns: list[int] | np.ndarray,
    cand_ns: list[int] | np.ndarray,
    seconds: float,
    seed: int = 0,
    sessions: list[int] | np.ndarray | None = None,
) -> PairedVerdict:
    """The rule's verdict on paired timings (``ref_ns[i]`` and ``cand_ns[i]`` timed back to back, on the
    session pair ``sessions[i]``; all on one when None)."""
    a = np.asarray(ref_ns, dtype=np.float64)
    b = np.asarray(cand_ns, dtype=np.float64)
    n = min(len(a), len(b))
    a, b = np.maximum(a[:n], 1.0), np.maximum(b[:n], 1.0)
    sess = np.zeros(n, dtype=np.int64) if sessions is None else np.asarray(sessions, dtype=np.int64)[:n]
    q = percentile_of(rule.metric)
    base = PairedVerdict(str(rule), rule.metric, UNKNOWN, None, None, None, None, None, n, seconds)
    if not rule.relative:
        base.why = "paired timing rules are relative (e.g. latency.p50:+5%)"
        return base
    need = needed_per_session(q)
    what = "the mean" if q is None else f"the p{q:g}"
    ids, counts = np.unique(sess, return_counts=True)
    ready = ids[counts >= need]
    if len(ready) == 0:
        base.why = (
            f"only {int(counts.max()) if len(counts) else 0} pairs a session pair ({what} needs {need} in at least one)"
        )
        return base
    stat = _stat(q)
    ref, cand = stat(a), stat(b)
    if len(ready) >= MIN_SESSIONS:
        r = np.array([math.log(stat(b[sess == j]) / stat(a[sess == j])) for j in ready])
        k = len(r)
        center = float(r.mean())
        # the spread between session pairs, never less than one session pair's own sampling error: timings
        # quantised by the clock (a 2 µs model) can give session pairs equal figures by chance
        within = math.sqrt(
            float(np.mean([_log_se(a[sess == j], q) ** 2 + _log_se(b[sess == j], q) ** 2 for j in ready]))
        )
        half = t995(k - 1) * max(float(r.std(ddof=1)), within) / math.sqrt(k)
        lo, hi = center - half, center + half
        note = f"over {k} session pairs"
    else:
        keep = np.isin(sess, ready)
        center, lo, hi = _one_session(a[keep], b[keep], q, seed)
        note = (
            f"{len(ready)} session pair{'s' * (len(ready) > 1)}: between-session variance not sampled "
            f"(a verdict over sessions needs {MIN_SESSIONS} with {need} pairs each)"
        )
    ratio, lo, hi = math.exp(center), math.exp(lo), math.exp(hi)
    limit = 1 + rule.limit
    if rule.worse_when_higher:
        outcome = REGRESSED if lo > limit else SAME if hi < limit else UNKNOWN
    else:
        outcome = REGRESSED if hi < limit else SAME if lo > limit else UNKNOWN
    why = note if outcome != UNKNOWN else f"the interval straddles the tolerance ({limit:.3f}); {note}"
    return PairedVerdict(str(rule), rule.metric, outcome, ratio, lo, hi, ref / 1e6, cand / 1e6, n, seconds, why)


def judge_accuracy(rule: Rule, ref: float | None, cand: float | None) -> PairedVerdict:
    """Accuracy of both sides re-measured on the same data: compared exactly, by the rule's limit."""
    untimed = {"ratio": None, "ci_low": None, "ci_high": None, "reference_ms": None, "candidate_ms": None}
    if ref is None or cand is None:
        return PairedVerdict(
            str(rule),
            rule.metric,
            UNKNOWN,
            **untimed,
            pairs=0,
            seconds=0.0,
            why=f"{rule.metric} not measured on both sides",
        )
    change = (cand / ref - 1.0) if rule.relative and ref else cand - ref
    worse = change > rule.limit if rule.worse_when_higher else change < rule.limit
    return PairedVerdict(
        str(rule),
        rule.metric,
        REGRESSED if worse else SAME,
        **untimed,
        pairs=0,
        seconds=0.0,
        why=f"reference {ref:.6g}, candidate {cand:.6g} on the same samples (change {change:+.6g}, limit {rule.limit:+g})",
        reference_value=ref,
        candidate_value=cand,
    )


def decided(verdicts: list[PairedVerdict]) -> bool:
    return all(v.outcome != UNKNOWN for v in verdicts)
