"""Flat exports of a run: pytest-benchmark's JSON, CSV and Markdown (pure functions of the results)."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import datetime, timezone
from typing import Any

from pytest_aibench.report import paired
from pytest_aibench.report.ranking import columns, fmt, label, ranked
from pytest_aibench.report.result import Result
from pytest_aibench.report.summary import summarize

PYTEST_BENCHMARK_VERSION = "5.3.1"


def _stats(ns: list[int]) -> dict[str, Any]:
    """pytest-benchmark's stats block from raw samples (seconds)."""
    s = sorted(v / 1e9 for v in ns)
    n = len(s)
    q = statistics.quantiles(s, n=4, method="inclusive") if n > 1 else [s[0]] * 3
    q1, median, q3 = q[0], statistics.median(s), q[2]
    iqr = q3 - q1
    mean = statistics.fmean(s)
    sd = statistics.stdev(s) if n > 1 else 0.0
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    iqr_out = sum(1 for v in s if v < lo or v > hi)
    sd_out = sum(1 for v in s if v < mean - sd or v > mean + sd)
    return {"min": s[0], "max": s[-1], "mean": mean, "stddev": sd, "rounds": n, "median": median, "iqr": iqr,
            "q1": q1, "q3": q3, "iqr_outliers": iqr_out, "stddev_outliers": sd_out,
            "outliers": f"{sd_out};{iqr_out}", "ld15iqr": min(v for v in s if v >= lo),
            "hd15iqr": max(v for v in s if v <= hi), "ops": 1.0 / mean if mean > 0 else 0.0, "total": sum(s),
            "iterations": 1}


def benchmark_json(doc: dict[str, Any], results: list[Result]) -> dict[str, Any]:
    """The run as pytest-benchmark writes it: one benchmark per measured item (its batch latency)."""
    machine = doc.get("machine", {})
    git = machine.get("git", {})
    benchmarks = []
    for r in results:
        ns = r.samples.get("latency_ns") or []
        if not ns:
            continue
        benchmarks.append({
            "group": r.suite, "name": label(r), "fullname": r.nodeid or r.id,
            "params": {k: v for k, v in r.axes.items() if k != "model"}, "param": r.id.split("[", 1)[-1].rstrip("]"),
            "extra_info": {k: v for k, v in r.metrics.items() if not k.startswith("latency.")},
            "options": {"disable_gc": True, "timer": "perf_counter_ns", "min_rounds": len(ns), "max_time": None,
                        "min_time": None, "warmup": r.info.get("warmup", {}).get("calls")},
            "stats": _stats(ns)})
    return {
        "machine_info": {"node": machine.get("node"), "processor": machine.get("machine"),
                         "machine": machine.get("machine"), "python_implementation":
                         machine.get("python", {}).get("implementation"), "python_version":
                         machine.get("python", {}).get("version"), "release": machine.get("release"),
                         "system": machine.get("system"), "cpu": {"brand_raw": machine.get("cpu", {}).get("model"),
                                                                  "count": machine.get("cpu", {}).get("logical")}},
        "commit_info": {"id": git.get("commit"), "dirty": git.get("dirty"), "branch": git.get("branch"),
                        "project": "pytest-aibench"},
        "benchmarks": benchmarks,
        "datetime": doc.get("finished") or datetime.now(timezone.utc).isoformat(),
        "version": PYTEST_BENCHMARK_VERSION,
    }


def to_csv(results: list[Result]) -> str:
    """One row per item: identity, axes, outcome, then every metric (flat dotted names)."""
    axes = sorted({k for r in results for k in r.axes})
    metrics = sorted({k for r in results for k in r.metrics})
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "suite", "suite_version", *axes, "outcome", "reason", "seed", "dataset_sha256",
                "artifact_sha256", *metrics])
    for r in results:
        w.writerow([r.id, r.suite, r.suite_version, *(r.axes.get(a, "") for a in axes), r.outcome, r.reason or "",
                    r.seed, r.dataset.get("sha256", ""), r.artifact.get("sha256", ""),
                    *(r.metrics.get(m, "") for m in metrics)])
    return out.getvalue()


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(results: list[Result], comparison: dict[str, Any] | None = None) -> str:
    """Leaderboards (and the baseline comparison) as GitHub-flavoured Markdown for a PR comment."""
    lines = []
    summaries = summarize(results)
    for suite, s in summaries.items():
        rs = [r for _, r in ranked([r for r in results if r.suite == suite])]
        cols = columns(rs)
        lines += [f"### {_md_cell(suite)} {_md_cell(s['version'])}", "",
                  f"{s['items']} items: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
                  f"{s['error']} errors" + (f"; VIPS total {s['vips_total']:.1f}" if s.get("vips_total") else ""), "",
                  "| item | " + " | ".join(c[1] for c in cols) + " | outcome |",
                  "|---|" + "---:|" * len(cols) + "---|"]
        for r in rs:
            cells = [fmt(r.metrics.get(c[0]), c[2], *c[3:]) for c in cols]
            outcome = r.outcome + (f": {r.reason.splitlines()[0][:120]}" if r.reason and r.outcome != "passed" else "")
            lines.append(f"| `{_md_cell(label(r))}` | " + " | ".join(cells) + f" | {_md_cell(outcome)} |")
        lines.append("")
    lines += paired.markdown_lines(results)
    if comparison:
        lines += comparison_markdown(comparison)
    return "\n".join(lines)


def comparison_markdown(c: dict[str, Any]) -> list[str]:
    lines = [f"### Compared with `{_md_cell(c['baseline'])}`", "",
             f"{c['matched']} matched, {len(c['regressions'])} regressed, {len(c['new'])} new, "
             f"{len(c['missing'])} missing", ""]
    for note in c.get("machine", []):
        lines.append(f"- machine differs: {_md_cell(note)}")
    if c["regressions"]:
        lines += ["", "| item | regression |", "|---|---|"]
        lines += [f"| `{_md_cell(i)}` | {_md_cell(msg)} |" for i, msg in c["regressions"]]
    if c.get("inconclusive"):
        lines += ["", "| item | inconclusive (rerun on a quiet host) |", "|---|---|"]
        lines += [f"| `{_md_cell(i)}` | {_md_cell(msg)} |" for i, msg in c["inconclusive"]]
    if c["changes"]:
        lines += ["", "| item | metric | baseline | current | change |", "|---|---|---:|---:|---:|"]
        for item, metric, b, cur, change in c["changes"]:
            lines.append(f"| `{_md_cell(item)}` | {metric} | {b:.6g} | {cur:.6g} | {change:+.1%} |")
    return lines + [""]
