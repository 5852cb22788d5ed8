"""The terminal leaderboard, rendered to lines (no pytest: the ``aibench`` command reuses it)."""

from __future__ import annotations

from typing import Any

from pytest_aibench.report.result import Result
from pytest_aibench.report.summary import by_suite, summarize

#: (metric, header, format); a column shows only when some item of the suite has the metric
COLUMNS = (("accuracy", "acc", "{:.4f}"), ("accuracy_loss", "Δacc", "{:+.4f}"),
           ("latency.p50_ms", "p50 ms", "{:.3f}"), ("latency.p99_ms", "p99 ms", "{:.3f}"),
           ("throughput.ips", "items/s", "{:.1f}"), ("vips", "VIPS", "{:.1f}"), ("vops", "VOPS", "{:.1f}"),
           ("model.size_mb", "MB", "{:.2f}"), ("loadgen.result", "LoadGen", "{}"),
           ("loadgen.p99_ms", "LG p99 ms", "{:.3f}"), ("loadgen.samples_per_s", "LG samples/s", "{:.0f}"),
           ("energy.j_per_inference", "mJ/inf", "{:.3f}", 1000.0),
           ("binary.sensitivity", "sens", "{:.3f}"), ("binary.specificity", "spec", "{:.3f}"),
           ("retrieval.rank1", "rank-1", "{:.3f}"), ("retrieval.map", "mAP", "{:.3f}"),
           ("sim.fps", "sim FPS", "{:.1f}"), ("sim.fps_per_w", "FPS/W", "{:.1f}"),
           ("sim.fps_per_price", "FPS/price", "{:.0f}"),
           ("sim.latency.p50_ms", "sim p50 ms", "{:.2f}"), ("sim.latency.p99_ms", "sim p99 ms", "{:.2f}"),
           ("offload_ratio", "offload", "{:.2f}"), ("bytes.up", "bytes up", "{:.0f}"),
           ("sim.edge_energy_j_per_inference", "edge mJ/inf", "{:.3f}", 1000.0),
           ("fl.final_accuracy", "FL acc", "{:.4f}"), ("ll.bwt", "BWT", "{:+.4f}"), ("ll.fwt", "FWT", "{:+.4f}"),
           ("trial.train_flops", "train GFLOP", "{:.1f}", 1e-9), ("trial.wall_s", "trial s", "{:.1f}"),
           ("train.time_to_quality_s", "TTQ s", "{:.2f}"), ("train.time_to_quality_cv", "TTQ cv", "{:.3f}"),
           ("train.epochs_to_quality", "epochs", "{:.1f}"), ("train.throughput_sps", "train samples/s", "{:.0f}"))


def _fmt(value: Any, spec: str, scale: float = 1.0) -> str:
    if isinstance(value, str) and spec == "{}":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return spec.format(value * scale)


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _label(r: Result) -> str:
    return r.id.split("::", 1)[1] if "::" in r.id else r.id


def _scores(totals: dict[str, Any]) -> str:
    parts = []
    for score in ("vips", "vops"):
        if totals.get(f"{score}_total") is not None:
            parts.append(f"{score.upper()} {totals[f'{score}_total']:.1f} (mean {totals[f'{score}_mean']:.1f} "
                         f"over {totals[f'{score}_items']})")
    return "; ".join(parts)


def leaderboard(results: list[Result]) -> list[str]:
    """One table per suite sorted by VIPS (unmeasured items last, with their outcome and reason)."""
    out: list[str] = []
    summaries = summarize(results)
    for suite, rs in by_suite(results).items():
        s = summaries[suite]
        cols = [c for c in COLUMNS if any(r.metrics.get(c[0]) is not None for r in rs)]
        score = next((k for k in ("vips", "sim.fps", "trial.accuracy", "accuracy")
                      if any(isinstance(r.metrics.get(k), (int, float)) for r in rs)), "vips")
        ranked = sorted(rs, key=lambda r: (not r.measured, not isinstance(r.metrics.get(score), (int, float)),
                                           -(r.metrics.get(score) or 0.0), r.id))
        rows = []
        rank = 0
        for r in ranked:
            rank += r.measured
            mark = "*" if any(f.startswith("concurrent") for f in r.flags) else ""
            cells = [str(rank) if r.measured else "", _label(r) + mark]
            cells += [_fmt(r.metrics.get(c[0]), c[2], *c[3:]) for c in cols]
            status = r.outcome if r.outcome != "passed" else ""
            if r.reason and r.outcome != "passed":
                status += ": " + r.reason.splitlines()[0][:90]
            rows.append(cells + [status])
        version = f" {s['version']}" if s["version"] else ""
        out.append(f"aibench leaderboard: {suite}{version} ({s['items']} items: {s['passed']} passed, "
                   f"{s['failed']} failed, {s['skipped']} skipped, {s['error']} errors)")
        out += table(["#", "item", *(c[1] for c in cols), "outcome"], rows, set(range(len(cols) + 2)) - {1})
        if _scores(s):
            out.append(f"total: {_scores(s)}")
            if len(s["by_runtime"]) > 1:
                for fw, totals in s["by_runtime"].items():
                    out.append(f"  {fw}: {_scores(totals)}")
        methods = sorted({str(r.metrics["energy.method"]) for r in rs if r.metrics.get("energy.method")})
        if methods:
            out.append(f"energy method: {', '.join(methods)} (rapl: powercap counters; model: "
                       "P_idle + (P_max - P_idle) x CPU utilisation)")
        if s.get("search"):
            sr = s["search"]
            out.append(f"search: best valid accuracy {sr['best_accuracy']:.4f} after {sr['trials']} trials "
                       f"({sr['valid_trials']} valid), {sr['total_train_flops'] / 1e12:.3f} TFLOP and "
                       f"{sr['total_trial_seconds']:.0f} trial-seconds spent training")
            out.append("search: best so far (trial-seconds: accuracy): " + ", ".join(
                f"{p['trial_seconds']:.0f}: {p['best_accuracy']:.3f}" for p in sr["best_over_time"]))
        if any(any(f.startswith("concurrent") for f in r.flags) for r in rs):
            out.append("* latency measured while other xdist workers ran: compare it with care")
        out.append("")
    return out
