"""Baselines and regression rules: match items with a saved run, decide, and explain the evidence.

Rules read ``metric:change``: a relative limit (``latency.p99:+10%``: fail when the p99 rises more than
10 %), or an absolute one (``accuracy:-0.005``: fail when accuracy falls more than 0.005). The sign
says which direction is bad. A metric may be named without its unit suffix when that is unique
(``latency.p99`` is ``latency.p99_ms``).

Timing metrics are noisy, so a latency change counts only when it is beyond the tolerance *and* the
raw samples show it: a one-sided Mann-Whitney U test (p below ``ALPHA``) and bootstrap intervals of
the median that do not overlap. Deterministic metrics (accuracy under the same seed and data)
compare exactly. Nothing here imports pytest.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy
from pytest_aibench.core.result import Result
from pytest_aibench.isa import describe, difference
from pytest_aibench.measure.host import explains
from pytest_aibench.measure.stats import bootstrap_ci, order_statistic_ci
from pytest_aibench.registry import suggest
from pytest_aibench.runtimes import packages

if TYPE_CHECKING:
    from pytest_aibench.judge import catalogue
else:  # the catalogue imports every paradigm's declarations: only when a rule is read
    catalogue = lazy("pytest_aibench.judge.catalogue")

ALPHA = 0.01
#: rank test on round medians, after each side's worst round is set aside: with 5 rounds a side (4 left),
#: p < 0.02 means complete separation, which happens by chance with probability 1/70 when nothing changed
ROUNDS_ALPHA = 0.02
_RULE = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*:\s*([-+])\s*(\d+(?:\.\d+)?|\.\d+)\s*(%|ms)?\s*$")


class RuleError(ValueError):
    """A regression rule that cannot be read; the message says how to write one."""


@dataclass(frozen=True)
class Rule:
    metric: str
    limit: float  # signed: +0.10 (relative) or -0.005 (absolute)
    relative: bool
    text: str
    sign: int = 0  # +1 / -1 as written; the direction of a zero limit (+0%: any rise is worse)

    @property
    def worse_when_higher(self) -> bool:
        return self.sign > 0 if self.sign else self.limit > 0

    def __str__(self) -> str:
        return self.text


def parse_rules(text: str, known_metrics: set[str] | None = None) -> list[Rule]:
    """``"latency.p99:+10%, accuracy:-0.005"`` -> rules; names resolve to known metrics when given."""
    rules = []
    for part in [p for p in re.split(r"[,;]", text or "") if p.strip()]:
        m = _RULE.match(part)
        if not m:
            raise RuleError(
                f"cannot read regression rule {part.strip()!r}: expected METRIC:+N% or METRIC:-N "
                "(e.g. latency.p99:+10% or accuracy:-0.005)"
            )
        name, sign, number, unit = m.groups()
        metric = resolve_metric(name, known_metrics)
        higher_better = catalogue.metric_directions().get(metric) if known_metrics else None
        if higher_better is not None and float(number) != 0 and (sign == "+") == higher_better:
            worse = "lower" if higher_better else "higher"
            other = "-" if sign == "+" else "+"
            raise RuleError(
                f"regression rule {part.strip()!r}: {metric} is worse when {worse}, so its tolerance is "
                f"signed {other}: write {name}:{other}{number}{unit or ''} (a {'fall' if higher_better else 'rise'} "
                f"of more than {number}{unit or ''} is a regression)"
            )
        if unit == "ms" and not metric.endswith("_ms"):
            raise RuleError(
                f"regression rule {part.strip()!r}: {metric} is not measured in milliseconds; "
                f"write {name}:{sign}{number}% (relative) or {name}:{sign}{number} (in its own unit)"
            )
        if unit is None and metric.endswith("_ms") and float(number) != 0:
            raise RuleError(
                f"regression rule {part.strip()!r} gives no unit: write {name}:{sign}{number}% for a "
                f"relative tolerance, or {name}:{sign}{number}ms for an absolute one of {number} ms"
            )
        pct = unit == "%"
        value = float(number) / (100.0 if pct else 1.0)
        # the direction: the metric's own where it declares one (so +0% and -0 both mean "any change for the
        # worse"), else the sign as written
        up = (not higher_better) if higher_better is not None else sign == "+"
        rules.append(Rule(metric, (value if up else -value), pct, part.strip(), 1 if up else -1))
    return rules


def resolve_metric(name: str, known: set[str] | None) -> str:
    if not known or name in known:
        return name
    # "latency.p99" -> "latency.p99_ms": the name plus a bare unit suffix (not latency.p99_ci_low_ms)
    candidates = [k for k in known if k.startswith(name + "_") and "_" not in k[len(name) + 1 :]]
    if len(candidates) == 1:
        return candidates[0]

    raise RuleError(f"regression rule names unknown metric {name!r}{suggest(name, known)}")


def is_timing(metric: str) -> bool:
    return metric.startswith("latency.") or metric.startswith("loadgen.") and metric.endswith("_ms")


# -- statistics --------------------------------------------------------------------------------------
def mann_whitney_greater(a: list[float], b: list[float]) -> float:
    """One-sided p-value that samples ``b`` tend to be larger than ``a`` (normal approximation with
    tie correction; fine for the hundreds of samples a latency loop gives)."""
    n1, n2 = len(a), len(b)
    if n1 < 3 or n2 < 3:
        return 1.0
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r2 = sum(r for r, (_, grp) in zip(ranks, pooled, strict=True) if grp == 1)
    u2 = r2 - n2 * (n2 + 1) / 2
    mean = n1 * n2 / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (u2 - mean - 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))


@dataclass
class Verdict:
    rule: Rule
    baseline: float | None
    current: float | None
    change: float | None  # relative (fraction) or absolute, as the rule reads
    regressed: bool
    evidence: str
    inconclusive: bool = False  # beyond the tolerance and significant, but the host was busier

    def message(self) -> str:
        shown = (
            f"{self.change * 100:+.1f}%"
            if self.rule.relative and self.change is not None
            else (f"{self.change:+.6g}" if self.change is not None else "n/a")
        )
        limit = f"{self.rule.limit * 100:+g}%" if self.rule.relative else f"{self.rule.limit:+g}"
        return (
            (
                f"{self.rule.metric}: baseline {self.baseline:.6g}, current {self.current:.6g}, change {shown} "
                f"(limit {limit}); {self.evidence}"
            )
            if self.baseline is not None and self.current is not None
            else f"{self.rule.metric}: {self.evidence}"
        )


def judge(rule: Rule, base: Result, cur: Result) -> Verdict:
    b, c = base.metrics.get(rule.metric), cur.metrics.get(rule.metric)
    if not isinstance(b, (int, float)) or not isinstance(c, (int, float)) or isinstance(b, bool):
        return Verdict(rule, None, None, None, False, "not measured in both runs: not compared")
    change = (c / b - 1.0) if rule.relative and b != 0 else (c - b)
    beyond = change > rule.limit if rule.worse_when_higher else change < rule.limit
    if not is_timing(rule.metric):
        spread = _seed_spread(rule, base, cur, change, beyond)
        if spread is not None:
            return Verdict(rule, b, c, change, beyond and spread[0], spread[1])
        same = base.seed == cur.seed and base.dataset.get("sha256") == cur.dataset.get("sha256")
        note = "exact comparison (same seed and data)" if same else "exact comparison, but seed or data differ"
        isa = isa_note(base, cur) if b != c else None
        return Verdict(rule, b, c, change, beyond, f"{note}; {isa}" if isa else note)
    ns_b = base.samples.get("latency_ns") or []
    ns_c = cur.samples.get("latency_ns") or []
    if len(ns_b) < 3 or len(ns_c) < 3:
        return Verdict(rule, b, c, change, False, "no raw samples to test the change: not judged")
    rounds_b = base.samples.get("round_medians_ns") or []
    rounds_c = cur.samples.get("round_medians_ns") or []
    if len(rounds_b) >= 3 and len(rounds_c) >= 3:
        return _busy_host(_judge_rounds(rule, b, c, change, beyond, rounds_b, rounds_c), base, cur)

    a, z = [v / 1e6 for v in ns_b], [v / 1e6 for v in ns_c]
    p = mann_whitney_greater(a, z) if rule.worse_when_higher else mann_whitney_greater(z, a)
    # the intervals are of the percentile the rule names: a p99 claim needs evidence in the tail, not a
    # shifted median (a few slow calls move a p99 of 200 samples by tens of percent)
    q = _percentile_of(rule.metric)
    if q >= 90:  # tail: order-statistic intervals (the bootstrap's are too narrow there)
        ci_b, ci_c = order_statistic_ci(a, q), order_statistic_ci(z, q)
    else:
        ci_b, ci_c = bootstrap_ci(a, q, seed=base.seed or 0), bootstrap_ci(z, q, seed=cur.seed or 0)
    separated = ci_c[0] > ci_b[1] if rule.worse_when_higher else ci_c[1] < ci_b[0]
    significant = p < ALPHA and separated
    label = "median" if q == 50 else f"p{q:g}"
    evidence = (
        f"Mann-Whitney U one-sided p={p:.2g} on {len(a)}+{len(z)} samples; {label} 95% intervals "
        f"{_ci(ci_b)} vs {_ci(ci_c)}, {'disjoint' if separated else 'overlapping'}"
    )
    if beyond and not significant:
        evidence += ": beyond the tolerance but not significant, so not a regression"
    return _busy_host(Verdict(rule, b, c, change, beyond and significant, evidence), base, cur)


def _seed_spread(rule: Rule, base: Result, cur: Result, change: float, beyond: bool) -> tuple[bool, str] | None:
    """With ``seeds: N`` on both sides, a change is judged against the seeds' spread: a regression must be
    beyond the tolerance and outside both 95 % intervals of the mean over seeds. None without seeds."""
    key = rule.metric.replace(".", "_")
    lo_b, hi_b, lo_c, hi_c = (r.metrics.get(f"seeds.{key}_ci_{end}") for r in (base, cur) for end in ("low", "high"))
    if not all(isinstance(v, (int, float)) for v in (lo_b, hi_b, lo_c, hi_c)):
        return None
    worse = cur.metrics[rule.metric] > hi_b if rule.worse_when_higher else cur.metrics[rule.metric] < lo_b
    separated = worse and (lo_c > hi_b if rule.worse_when_higher else hi_c < lo_b)  # type: ignore[operator]
    text = (
        f"over {cur.metrics.get('seeds.n')} seeds: 95 % intervals [{lo_b:.4g}, {hi_b:.4g}] vs "
        f"[{lo_c:.4g}, {hi_c:.4g}], {'disjoint' if separated else 'overlapping'}"
    )
    if beyond and not separated:
        text += ": beyond the tolerance but within the seeds' spread, so not a regression"
    return bool(separated), text


def isa_note(base: Result, cur: Result) -> str | None:
    """Why a deterministic figure (accuracy under the same seed and data) may differ between two
    runs: their CPUs' instruction sets, which pick the runtime's kernels. None when they agree."""

    why = difference(base.machine.get("isa"), cur.machine.get("isa"))
    if why is None:
        return None
    quantization = str(cur.axes.get("quantization", "fp32"))
    if quantization not in ("fp32", ""):
        return (
            f"{why}: the runtime picks this {quantization} item's kernels by instruction set (its model card's "
            "isa entry says whether identical predictions are promised)"
        )
    return f"{why}: float kernels are picked by instruction set, so samples at a decision boundary can flip"


def _busy_host(v: Verdict, base: Result, cur: Result) -> Verdict:
    """A timing regression measured while other processes took the cores the runtime needed, or while a
    fixed reference workload also ran slower than beside the baseline, is not pinned on the code: it
    becomes inconclusive, with the reason."""

    why = (
        explains(base.info.get("host_load"), cur.info.get("host_load"), cur.runner.get("threads"))
        if v.regressed
        else None
    )
    if why is None:
        return v
    return Verdict(
        v.rule,
        v.baseline,
        v.current,
        v.change,
        False,
        f"{v.evidence}; inconclusive, not a regression: {why}; rerun on a quiet host",
        True,
    )


def _judge_rounds(
    rule: Rule, b: float, c: float, change: float, beyond: bool, rounds_b: list[int], rounds_c: list[int]
) -> Verdict:
    """Independent rounds are the unit of evidence: a one-sided rank test on the round medians (each
    round on a freshly prepared runner) must find the shift (p < ROUNDS_ALPHA), besides the tolerance.
    With 5 or more rounds, each side's worst round is set aside first: a burst of machine noise often
    hits one round, and trimming both sides alike keeps the test exact when nothing changed."""
    a, z = [v / 1e6 for v in rounds_b], [v / 1e6 for v in rounds_c]
    trimmed = len(a) >= 5 and len(z) >= 5
    if trimmed:
        worst = max if rule.worse_when_higher else min
        a.remove(worst(a))
        z.remove(worst(z))
    separated = min(z) > max(a) if rule.worse_when_higher else max(z) < min(a)
    p = mann_whitney_greater(a, z) if rule.worse_when_higher else mann_whitney_greater(z, a)
    chance = 1 / math.comb(len(a) + len(z), len(a))
    evidence = (
        f"{len(z)} rounds vs {len(a)} baseline rounds (fresh runner each"
        f"{'; each side' + chr(39) + 's worst round set aside' if trimmed else ''}): round medians "
        f"{_span(z)} vs {_span(a)} ms, {'fully separated' if separated else 'overlapping'} "
        f"(chance {chance:.2g} with no change), rank test p={p:.2g}"
    )
    regressed = beyond and p < ROUNDS_ALPHA
    if beyond and not regressed:
        evidence += ": beyond the tolerance but not borne out by every round, so not a regression"
    return Verdict(rule, b, c, change, regressed, evidence)


def _percentile_of(metric: str) -> float:
    """``latency.p99_ms`` -> 99, ``latency.p99.9_ms`` -> 99.9; the median for anything else."""
    m = re.search(r"\.p(\d+(?:\.\d+)?)(?:_ms)?$", metric)
    return float(m.group(1)) if m else 50.0


def _span(v: list[float]) -> str:
    return f"{min(v):.4g}..{max(v):.4g}"


def _ci(ci: tuple[Any, Any]) -> str:
    return "n/a" if None in ci else f"[{ci[0]:.4g}, {ci[1]:.4g}] ms"


# -- matching runs ----------------------------------------------------------------------------------
def key(r: Result) -> tuple[str, str]:
    """Items match by case id (suite, model, axes) and the evaluated data's content hash."""
    return r.id, str(r.dataset.get("sha256", ""))


@dataclass
class Comparison:
    matched: list[tuple[Result, Result]]
    missing: list[Result]  # in the baseline, not in this run
    new: list[Result]  # in this run, not in the baseline
    machine_notes: list[str]


def match(
    baseline: list[Result],
    current: list[Result],
    base_machine: dict[str, Any] | None = None,
    cur_machine: dict[str, Any] | None = None,
) -> Comparison:
    by_key = {key(r): r for r in baseline}
    matched, new = [], []
    for r in current:
        b = by_key.pop(key(r), None)
        (matched.append((b, r)) if b is not None else new.append(r))
    return Comparison(matched, list(by_key.values()), new, machine_differences(base_machine, cur_machine))


def machine_differences(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    if not a or not b:
        return []
    notes = []

    isa_a, isa_b = _get(a, ("cpu", "isa")), _get(b, ("cpu", "isa"))
    if isa_a and isa_b and list(isa_a) != list(isa_b):
        notes.append(f"ISA: baseline {describe(isa_a)}, now {describe(isa_b)}")
    for label, path in (
        ("CPU", ("cpu", "model")),
        ("logical CPUs", ("cpu", "logical")),
        ("host", ("node",)),
        *((package, ("versions", package)) for package in dict.fromkeys(packages().values())),
    ):
        va, vb = _get(a, path), _get(b, path)
        if va != vb:
            notes.append(f"{label}: baseline {va!r}, now {vb!r}")
    return notes


def _get(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for p in path:
        d = d.get(p, {}) if isinstance(d, dict) else {}
    return d or None
