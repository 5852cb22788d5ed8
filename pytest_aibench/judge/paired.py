"""Verdicts from paired timings: the reference and the candidate timed call by call, interleaved in
a seeded random order, so that the machine's noise (slow spells lasting milliseconds to minutes on a
shared VM) hits both sides alike and cancels in each pair's ratio.

For a rule on the median (``latency.p50:+5%``) the statistic is the median of the pairs' log-ratios
(candidate / reference); for a tail (``latency.p99``) the pairs are cut into consecutive blocks and
the statistic is the median over blocks of each block's tail ratio; for the mean, the ratio of the
means. Its confidence interval comes from a moving-block bootstrap over consecutive pairs, which
keeps the noise's time structure (a slow spell spans many pairs) instead of pretending pairs are
independent. Three outcomes, as Chromium's Pinpoint has:

- ``REGRESSED``: the whole interval lies beyond the rule's tolerance;
- ``SAME``: the whole interval lies within it (the change, if any, is smaller than the tolerance);
- ``UNKNOWN``: the interval straddles the tolerance: measure more pairs, and if the budget runs out,
  report it as inconclusive (never as a pass that says nothing).

The interval is at 99 %, not 95 %: the measurement looks at it after each batch of pairs and stops
as soon as it is decided, and looking more often needs a wider interval to keep false alarms rare.
Nothing here imports pytest.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pytest_aibench.judge.compare import Rule

REGRESSED, SAME, UNKNOWN = "REGRESSED", "SAME", "UNKNOWN"
LEVEL = 0.99
BOOTSTRAP = 1000
#: fewest pairs (or tail blocks) a verdict rests on
MIN_PAIRS = 100
MIN_BLOCKS = 6


@dataclass
class PairedVerdict:
    rule: str
    metric: str
    outcome: str                       # REGRESSED | SAME | UNKNOWN
    ratio: float | None                # candidate / reference, the rule's statistic
    ci_low: float | None
    ci_high: float | None
    reference_ms: float | None         # each side's own figure for the rule's statistic
    candidate_ms: float | None
    pairs: int
    seconds: float
    why: str = ""

    def message(self) -> str:
        if self.ratio is None:
            return f"{self.rule} {self.outcome}: {self.why}"
        ci = f"[{self.ci_low:.3f}, {self.ci_high:.3f}]" if self.ci_low is not None else "n/a"
        return (f"{self.rule} {self.outcome}: candidate {self.candidate_ms:.4g} ms vs reference {self.reference_ms:.4g} ms, "
                f"ratio {self.ratio:.3f} ({LEVEL:.0%} interval {ci}) over {self.pairs} interleaved pairs in "
                f"{self.seconds:.1f} s{'; ' + self.why if self.why else ''}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _bootstrap(values: np.ndarray, stat: Any, block: int, seed: int) -> tuple[float, float]:
    """A moving-block bootstrap interval of ``stat`` over ``values`` (time-ordered)."""
    n = len(values)
    rng = np.random.default_rng(seed)
    k = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(BOOTSTRAP, k))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(BOOTSTRAP, -1)[:, :n]
    stats = stat(values[idx])
    tail = (1 - LEVEL) / 2
    return float(np.quantile(stats, tail)), float(np.quantile(stats, 1 - tail))


def _tail_blocks(a: np.ndarray, b: np.ndarray, q: float) -> np.ndarray:
    """Each consecutive block's log-ratio of the q-th percentiles (blocks of 1000/(100-q) pairs, at
    least 50, so a block's tail rests on about 10 samples: 1,000 pairs a block for the p99)."""
    size = max(50, int(math.ceil(10 * 100 / max(1e-9, 100 - q))))
    k = len(a) // size
    if k == 0:
        return np.array([])
    qa = np.percentile(a[:k * size].reshape(k, size), q, axis=1)
    qb = np.percentile(b[:k * size].reshape(k, size), q, axis=1)
    return np.log(qb) - np.log(qa)


def judge_paired(rule: Rule, ref_ns: list[int] | np.ndarray, cand_ns: list[int] | np.ndarray, seconds: float,
                 seed: int = 0) -> PairedVerdict:
    """The rule's verdict on paired timings (``ref_ns[i]`` and ``cand_ns[i]`` timed back to back)."""
    a = np.asarray(ref_ns, dtype=np.float64)
    b = np.asarray(cand_ns, dtype=np.float64)
    n = min(len(a), len(b))
    a, b = np.maximum(a[:n], 1.0), np.maximum(b[:n], 1.0)
    q = percentile_of(rule.metric)
    base = PairedVerdict(str(rule), rule.metric, UNKNOWN, None, None, None, None, None, n, seconds)
    if not rule.relative:
        base.why = "paired timing rules are relative (e.g. latency.p50:+5%)"
        return base
    if n < MIN_PAIRS:
        base.why = f"only {n} pairs (a verdict needs {MIN_PAIRS})"
        return base
    if q is None:  # the mean: ratio of means over resampled blocks of pairs
        ratio = float(b.mean() / a.mean())
        pairs = np.stack([a, b], axis=1)
        lo, hi = _bootstrap_pairs_mean(pairs, block_length(n), seed)
        ref, cand = a.mean(), b.mean()
    elif q <= 75:
        d = np.log(b) - np.log(a)
        ratio = float(math.exp(np.median(d)))
        lo, hi = (math.exp(v) for v in _bootstrap(d, lambda x: np.median(x, axis=-1), block_length(n), seed))
        ref, cand = np.percentile(a, q), np.percentile(b, q)
    else:
        blocks = _tail_blocks(a, b, q)
        if len(blocks) < MIN_BLOCKS:
            base.why = f"{len(blocks)} blocks of pairs for the p{q:g} (a tail verdict needs {MIN_BLOCKS})"
            return base
        ratio = float(math.exp(np.median(blocks)))
        lo, hi = (math.exp(v) for v in _bootstrap(blocks, lambda x: np.median(x, axis=-1), 2, seed))
        ref, cand = np.percentile(a, q), np.percentile(b, q)
    limit = 1 + rule.limit
    if rule.worse_when_higher:
        outcome = REGRESSED if lo > limit else SAME if hi < limit else UNKNOWN
    else:
        outcome = REGRESSED if hi < limit else SAME if lo > limit else UNKNOWN
    why = "" if outcome != UNKNOWN else f"the interval straddles the tolerance ({limit:.3f})"
    return PairedVerdict(str(rule), rule.metric, outcome, ratio, lo, hi, float(ref) / 1e6, float(cand) / 1e6, n,
                         seconds, why)


def _bootstrap_pairs_mean(pairs: np.ndarray, block: int, seed: int) -> tuple[float, float]:
    n = len(pairs)
    rng = np.random.default_rng(seed)
    k = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(BOOTSTRAP, k))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(BOOTSTRAP, -1)[:, :n]
    sampled = pairs[idx]                     # (BOOTSTRAP, n, 2)
    ratios = sampled[:, :, 1].mean(axis=1) / sampled[:, :, 0].mean(axis=1)
    tail = (1 - LEVEL) / 2
    return float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1 - tail))


def judge_accuracy(rule: Rule, ref: float | None, cand: float | None) -> PairedVerdict:
    """Accuracy of both sides re-measured on the same data: compared exactly, by the rule's limit."""
    if ref is None or cand is None:
        return PairedVerdict(str(rule), rule.metric, UNKNOWN, None, None, None, None, None, 0, 0.0,
                             "accuracy not measured on both sides")
    change = (cand / ref - 1.0) if rule.relative and ref else cand - ref
    worse = change > rule.limit if rule.worse_when_higher else change < rule.limit
    outcome = REGRESSED if worse else SAME
    return PairedVerdict(str(rule), rule.metric, outcome, None, None, None, None, None, 0, 0.0,
                         f"reference {ref:.6g}, candidate {cand:.6g} on the same samples (change {change:+.6g}, "
                         f"limit {rule.limit:+g})")


def decided(verdicts: list[PairedVerdict]) -> bool:
    return all(v.outcome != UNKNOWN for v in verdicts)
