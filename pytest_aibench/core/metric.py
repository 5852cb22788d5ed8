"""What a metric means, declared once where it is produced and read by every consumer.

A metric group, a paradigm or the paired gate declares ``provides: dict[str, MetricInfo]``; the
:class:`Catalogue` joins them, and gates, rules, comparisons, leaderboards (terminal, Markdown, HTML, CSV)
and exports read it. A name may be a pattern (``measured.*_scaled_p50_ms``) for metrics named after
something the manifest chooses. Ground floor: imports nothing from the package.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class MetricInfo:
    """One metric: what it says, which way is better, and how a leaderboard shows it."""

    label: str
    higher_is_better: bool | None = None  # None: no direction (a count, a setting, a text)
    unit: str = ""  # "ms", "s", "J", "1" (a fraction), "" (a count or a text)
    column: str = ""  # the leaderboard's header; "" keeps it out of the tables
    fmt: str = "{:.4g}"  # the column's format (after ``scale``)
    scale: float = 1.0  # the column shows value x scale (J -> mJ)
    rank: int = 0  # > 0: the suite can be ranked by it; the highest weight some item measured wins
    sort_by: str = ""  # a text column's number, for sorting and for tools that want the figure alone

    def show(self, value: Any) -> str:
        """The column's text for ``value``: '-' for anything that is not a number (or the text itself)."""
        if isinstance(value, str) and self.fmt == "{}":
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "-"
        return self.fmt.format(value * self.scale)


class Catalogue(Mapping[str, MetricInfo]):
    """Every declared metric by name, in declaration order; patterns answer the names they match."""

    def __init__(self, declarations: Iterable[tuple[str, Mapping[str, MetricInfo]]]):
        self._exact: dict[str, MetricInfo] = {}
        self._patterns: dict[str, MetricInfo] = {}
        self.declared_by: dict[str, str] = {}  # metric (or pattern) -> who declared it
        for owner, provides in declarations:
            for name, info in provides.items():
                (self._patterns if "*" in name else self._exact).setdefault(name, info)
                self.declared_by.setdefault(name, owner)

    def __getitem__(self, name: str) -> MetricInfo:
        if name in self._exact:
            return self._exact[name]
        for pattern, info in self._patterns.items():
            if fnmatch.fnmatchcase(name, pattern):
                return info
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        try:
            self[str(name)]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._exact)

    def __len__(self) -> int:
        return len(self._exact)

    def patterns(self) -> list[str]:
        return list(self._patterns)

    def direction(self, name: str) -> bool | None:
        """``higher_is_better`` of ``name`` (None when undeclared or undirected)."""
        info = self.get(name)
        return info.higher_is_better if info is not None else None

    def columns(self) -> list[tuple[str, MetricInfo]]:
        """Leaderboard columns in declaration order."""
        return [(name, info) for name, info in self._exact.items() if info.column]

    def scores(self) -> list[str]:
        """Metrics a suite may be ranked by, the preferred first."""
        ranked = [(info.rank, i, name) for i, (name, info) in enumerate(self._exact.items()) if info.rank > 0]
        return [name for _, _, name in sorted(ranked, key=lambda t: (-t[0], t[1]))]


def column(provides: Mapping[str, MetricInfo], shown: Mapping[str, tuple[Any, ...]]) -> dict[str, MetricInfo]:
    """Entries of ``provides`` given a leaderboard column: name -> (header, format[, scale[, rank]]).
    Merge the result into ``provides`` (``provides |= column(provides, {...})``)."""
    out = {}
    for name, (header, fmt, *rest) in shown.items():
        scale, rank = rest[0] if rest else 1.0, rest[1] if len(rest) > 1 else 0
        out[name] = replace(provides[name], column=header, fmt=fmt, scale=float(scale), rank=int(rank))
    return out


def declare(*rows: tuple[Any, ...]) -> dict[str, MetricInfo]:
    """``declare((name, label, higher_is_better[, unit]), ...)``: a ``provides`` table, one row a metric."""
    return {row[0]: MetricInfo(row[1], row[2], *(row[3:4])) for row in rows}
