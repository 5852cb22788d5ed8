"""The one ranking every leaderboard shows (terminal, Markdown, HTML, CSV): which columns a suite's
table has (the catalogue's declared columns), and the order of its items (best score first; unmeasured last)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import Catalogue, MetricInfo
from pytest_aibench.core.result import Result

if TYPE_CHECKING:
    from pytest_aibench import tasks
    from pytest_aibench.judge import catalogue as judge_catalogue
else:  # every paradigm's declarations: imported when a table is drawn
    judge_catalogue = lazy("pytest_aibench.judge.catalogue")
    tasks = lazy("pytest_aibench.tasks")

CLASSIFICATION = "classification"


def task_of(r: Result) -> str | None:
    """The task an item was judged as (None: not measured, so not recorded)."""
    return (r.info.get("task") or {}).get("name") if r.measured or r.info.get("task") else None


def by_task(rs: list[Result]) -> dict[str, list[Result]]:
    """A suite's items by task, each task its own leaderboard (mAP and top-1 do not rank together);
    classification first, unmeasured items with the first group."""
    out: dict[str, list[Result]] = {}
    for r in rs:
        if task_of(r) is not None or r.measured:
            out.setdefault(task_of(r) or CLASSIFICATION, []).append(r)
    if not out:
        return {CLASSIFICATION: list(rs)}
    order = sorted(out, key=lambda t: (t != CLASSIFICATION, list(out).index(t)))
    out = {t: out[t] for t in order}
    first = next(iter(out))
    out[first] += [r for r in rs if task_of(r) is None and not r.measured]
    return out


def headline(task: str) -> str:
    """The metric a task's leaderboard is ranked by, and its chart's vertical axis."""
    return "accuracy" if task == CLASSIFICATION else tasks.task_of(task).headline


def catalogue() -> Catalogue:
    """The metrics' declarations (each group's and paradigm's ``provides``): headers, formats, scores."""
    return judge_catalogue.catalogue()


def fmt(value: Any, spec: str, scale: float = 1.0) -> str:
    if isinstance(value, str) and spec == "{}":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return spec.format(value * scale)


def label(r: Result) -> str:
    return r.id.split("::", 1)[1] if "::" in r.id else r.id


def columns(rs: list[Result]) -> list[tuple[str, MetricInfo]]:
    """The declared columns some item of ``rs`` has a value for, in declaration order."""
    return [(name, info) for name, info in catalogue().columns() if any(r.metrics.get(name) is not None for r in rs)]


def score_of(rs: list[Result]) -> str:
    """The suite's score: the preferred declared score some item measured; a task other than
    classification ranks by its own headline (mAP, mIoU, PSNR...)."""
    dense = {t for t in (task_of(r) for r in rs) if t is not None and t != CLASSIFICATION}
    if len(dense) == 1:
        head = headline(dense.pop())
        if any(_number(r.metrics.get(head)) for r in rs):
            return head
    return next((k for k in catalogue().scores() if any(_number(r.metrics.get(k)) for r in rs)), "vips")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def ranked(rs: list[Result]) -> list[tuple[int | None, Result]]:
    """Items best first by the suite's score, each with its rank (None for unmeasured items, last)."""
    score = score_of(rs)
    sign = 1.0 if catalogue().direction(score) is False else -1.0  # error rates (WER) rank lowest first
    order = sorted(
        rs,
        key=lambda r: (not r.measured, not _number(r.metrics.get(score)), sign * (r.metrics.get(score) or 0.0), r.id),
    )
    out: list[tuple[int | None, Result]] = []
    rank = 0
    for r in order:
        rank += r.measured
        out.append((rank if r.measured else None, r))
    return out
