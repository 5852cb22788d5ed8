"""The one ranking every leaderboard shows (terminal, Markdown, HTML): which columns a suite's
table has, and the order of its items (best score first; unmeasured items last)."""

from __future__ import annotations

from typing import Any

from pytest_aibench.core.result import Result

#: (metric, header, format); a column shows only when some item of the suite has the metric
COLUMNS = (
    ("accuracy", "acc", "{:.4f}"),
    ("accuracy_loss", "Δacc", "{:+.4f}"),
    ("latency.p50_ms", "p50 ms", "{:.3f}"),
    ("latency.p99_ms", "p99 ms", "{:.3f}"),
    ("throughput.ips", "items/s", "{:.1f}"),
    ("vips", "VIPS", "{:.1f}"),
    ("vops", "VOPS", "{:.1f}"),
    ("model.size_mb", "MB", "{:.2f}"),
    ("loadgen.result", "LoadGen", "{}"),
    ("loadgen.mlperf", "MLPerf result", "{}"),
    ("energy.j_per_inference", "mJ/inf", "{:.3f}", 1000.0),
    ("binary.sensitivity", "sens", "{:.3f}"),
    ("binary.specificity", "spec", "{:.3f}"),
    ("retrieval.rank1", "rank-1", "{:.3f}"),
    ("retrieval.map", "mAP", "{:.3f}"),
    ("sim.fps", "sim FPS", "{:.1f}"),
    ("sim.fps_per_w", "FPS/W", "{:.1f}"),
    ("sim.fps_per_price", "FPS/price", "{:.0f}"),
    ("sim.latency.p50_ms", "sim p50 ms", "{:.2f}"),
    ("sim.latency.p99_ms", "sim p99 ms", "{:.2f}"),
    ("offload_ratio", "offload", "{:.2f}"),
    ("bytes.up", "bytes up", "{:.0f}"),
    ("sim.edge_energy_j_per_inference", "edge mJ/inf", "{:.3f}", 1000.0),
    ("fl.final_accuracy", "FL acc", "{:.4f}"),
    ("fl.sim_time_s", "FL sim s", "{:.2f}"),
    ("fcil.average_incremental_accuracy", "FCIL avg acc", "{:.4f}"),
    ("fcil.forgetting", "FCIL forget", "{:.4f}"),
    ("ll.average_accuracy", "LL mean acc", "{:.4f}"),
    ("ll.forgetting", "LL forget", "{:.4f}"),
    ("aiperf.score", "AIPerf score", "{:.4g}"),
    ("aiperf.best_accuracy", "best acc", "{:.4f}"),
    ("aiperf.trials", "trials", "{:.0f}"),
    ("ll.bwt", "BWT", "{:+.4f}"),
    ("ll.fwt", "FWT", "{:+.4f}"),
    ("trial.train_flops", "train GFLOP", "{:.1f}", 1e-9),
    ("trial.wall_s", "trial s", "{:.1f}"),
    ("train.time_to_quality_s", "TTQ s", "{:.2f}"),
    ("train.time_to_quality_cv", "TTQ cv", "{:.3f}"),
    ("train.epochs_to_quality", "epochs", "{:.1f}"),
    ("train.throughput_sps", "train samples/s", "{:.0f}"),
)


#: a text column's number, for sorting (HTML) and for tools that want the figure alone
SORT_BY = {"loadgen.mlperf": "loadgen.mlperf_value"}

#: the score a suite is ranked by: the first of these its items measured
SCORES = ("vips", "sim.fps", "trial.accuracy", "accuracy")


def fmt(value: Any, spec: str, scale: float = 1.0) -> str:
    if isinstance(value, str) and spec == "{}":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return spec.format(value * scale)


def label(r: Result) -> str:
    return r.id.split("::", 1)[1] if "::" in r.id else r.id


def columns(rs: list[Result]) -> list[tuple[Any, ...]]:
    """The columns some item of ``rs`` has a value for, in COLUMNS order."""
    return [c for c in COLUMNS if any(r.metrics.get(c[0]) is not None for r in rs)]


def score_of(rs: list[Result]) -> str:
    return next((k for k in SCORES if any(_number(r.metrics.get(k)) for r in rs)), "vips")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def ranked(rs: list[Result]) -> list[tuple[int | None, Result]]:
    """Items best first by the suite's score, each with its rank (None for unmeasured items, last)."""
    score = score_of(rs)
    order = sorted(
        rs, key=lambda r: (not r.measured, not _number(r.metrics.get(score)), -(r.metrics.get(score) or 0.0), r.id)
    )
    out: list[tuple[int | None, Result]] = []
    rank = 0
    for r in order:
        rank += r.measured
        out.append((rank if r.measured else None, r))
    return out
