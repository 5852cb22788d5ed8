"""The terminal leaderboard, rendered to lines (no pytest: the ``aibench`` command reuses it)."""

from __future__ import annotations

from typing import Any

from pytest_aibench.core.result import Result
from pytest_aibench.report import notes
from pytest_aibench.report.ranking import by_task, columns, label, ranked, score_of
from pytest_aibench.report.summary import by_suite, summarize


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _scores(totals: dict[str, Any]) -> str:
    parts = []
    for score in ("vips", "vops"):
        if totals.get(f"{score}_total") is not None:
            parts.append(
                f"{score.upper()} {totals[f'{score}_total']:.1f} (mean {totals[f'{score}_mean']:.1f} "
                f"over {totals[f'{score}_items']})"
            )
    return "; ".join(parts)


def data_used(results: list[Result]) -> str:
    """How many samples each dataset's accuracy rests on (the eval split, or the whole file)."""
    seen: dict[str, str] = {}
    for r in results:
        d = r.dataset or {}
        if not d.get("name") or d.get("eval") is None:
            continue
        total = int(d.get("eval", 0)) + int(d.get("train", 0))
        capped = r.metrics.get("eval.samples")
        n = int(capped) if isinstance(capped, (int, float)) and capped < d["eval"] else int(d["eval"])
        whole = (
            " (the whole dataset)" if n == total else f" of {total} (the eval split, split_seed {d.get('split_seed')})"
        )
        seen.setdefault(str(d["name"]), f"{d['name']} {n} samples{whole}")
    return "; ".join(seen.values())


def _rows(rs: list[Result]) -> list[str]:
    """One leaderboard table: the group's declared columns, best first."""
    cols = columns(rs)
    rows = []
    for rank, r in ranked(rs):
        mark = "*" if any(f.startswith("concurrent") for f in r.flags) else ""
        cells = [str(rank) if rank is not None else "", label(r) + mark]
        cells += [info.show(r.metrics.get(name)) for name, info in cols]
        status = r.outcome if r.outcome != "passed" else ""
        if r.reason and r.outcome != "passed":
            status += ": " + r.reason.splitlines()[0][:90]
        if notes.busy(r):  # beside the item: its latency was measured while the CPU was taken
            status = f"{notes.BUSY_MARK} host busy" + (f"; {status}" if status else "")
        rows.append(cells + [status])
    return table(["#", "item", *(info.column for _, info in cols), "outcome"], rows, set(range(len(cols) + 2)) - {1})


def leaderboard(results: list[Result]) -> list[str]:
    """One table per suite sorted by VIPS (unmeasured items last, with their outcome and reason)."""
    out: list[str] = []
    summaries = summarize(results)
    for suite, rs in by_suite(results).items():
        s = summaries[suite]
        version = f" {s['version']}" if s["version"] else ""
        out.append(
            f"aibench leaderboard: {suite}{version} ({s['items']} items: {s['passed']} passed, "
            f"{s['failed']} failed, {s['skipped']} skipped, {s['error']} errors"
            + (f"; {notes.busy_summary(rs)}" if notes.busy_summary(rs) else "")
            + ")"
        )
        groups = by_task(rs)
        for task, group in groups.items():
            if len(groups) > 1:
                out.append(f"{task}: ranked by {score_of(group)}")
            out += _rows(group)
        if _scores(s):
            out.append(f"total: {_scores(s)}")
            if len(s["by_runtime"]) > 1:
                for fw, totals in s["by_runtime"].items():
                    out.append(f"  {fw}: {_scores(totals)}")
        out += notes.lines(rs)
        used = data_used(rs)
        if used:  # untrained weights (the published-size zoo) have no accuracy: the data only fed them
            scored = any("accuracy" in r.metrics for r in rs)
            out.append(f"{'accuracy on' if scored else 'inputs (accuracy not applicable)'}: {used}")
        methods = sorted({str(r.metrics["energy.method"]) for r in rs if r.metrics.get("energy.method")})
        if methods:
            out.append(
                f"energy method: {', '.join(methods)} (rapl: powercap counters; model: "
                "P_idle + (P_max - P_idle) x CPU utilisation)"
            )
        if s.get("search"):
            sr = s["search"]
            out.append(
                f"search: best valid accuracy {sr['best_accuracy']:.4f} after {sr['trials']} trials "
                f"({sr['valid_trials']} valid), {sr['total_train_flops'] / 1e12:.3f} TFLOP and "
                f"{sr['total_trial_seconds']:.0f} trial-seconds spent training"
            )
            out.append(
                "search: best so far (trial-seconds: accuracy): "
                + ", ".join(f"{p['trial_seconds']:.0f}: {p['best_accuracy']:.3f}" for p in sr["best_over_time"])
            )
        if any(any(f.startswith("concurrent") for f in r.flags) for r in rs):
            out.append("* latency measured while other xdist workers ran: compare it with care")
        out.append("")
    return out
