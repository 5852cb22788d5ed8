"""Verdict words and the paired comparison's typed verdict (ground floor): the judge makes them, and the
controller, the reports and the CLI read them as objects, never by searching text."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

REGRESSED, SAME, UNKNOWN = "REGRESSED", "SAME", "UNKNOWN"
LEVEL = 0.99


@dataclass
class PairedVerdict:
    rule: str
    metric: str
    outcome: str  # REGRESSED | SAME | UNKNOWN
    ratio: float | None  # candidate / reference, the rule's statistic
    ci_low: float | None
    ci_high: float | None
    reference_ms: float | None  # each side's own figure for the rule's statistic
    candidate_ms: float | None
    pairs: int
    seconds: float
    why: str = ""
    reference_value: float | None = None  # a quality rule's figure on each side (same samples)
    candidate_value: float | None = None

    def message(self) -> str:
        if self.ratio is None:
            return f"{self.rule} {self.outcome}: {self.why}"
        ci = f"[{self.ci_low:.3f}, {self.ci_high:.3f}]" if self.ci_low is not None else "n/a"
        return (
            f"{self.rule} {self.outcome}: candidate {self.candidate_ms:.4g} ms vs reference {self.reference_ms:.4g} ms, "
            f"ratio {self.ratio:.3f} ({LEVEL:.0%} interval {ci}) over {self.pairs} interleaved pairs in "
            f"{self.seconds:.1f} s{'; ' + self.why if self.why else ''}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Comparison:
    """A run judged against a saved baseline (``--aibench-compare``): what the terminal, Markdown and HTML
    reports show. Built from the items' recorded verdicts, never from their failure text."""

    baseline: str
    matched: int
    regressions: list[tuple[str, str]]  # (item, the regressed rules' evidence)
    inconclusive: list[tuple[str, str]]  # (item, metric: evidence)
    new: list[str]
    missing: list[str]
    machine: list[str]  # how the machines differ, each a sentence
    changes: list[tuple[str, str, float, float, float]]  # (item, metric, baseline, current, relative change)
