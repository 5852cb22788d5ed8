"""Flat exports of a run: pytest-benchmark's JSON, CSV and Markdown (pure functions of the results)."""

from __future__ import annotations

import bisect
import csv
import io
import statistics
from datetime import datetime, timezone
from typing import Any

from pytest_aibench.core.result import Result
from pytest_aibench.core.verdict import Comparison
from pytest_aibench.report import notes, paired
from pytest_aibench.report.ranking import by_task, catalogue, columns, headline, label, ranked, score_of, task_of
from pytest_aibench.report.summary import summarize

PYTEST_BENCHMARK_VERSION = "5.3.1"


def _quartiles(s: list[float]) -> tuple[float, float]:
    """Q1 and Q3 as pytest-benchmark computes them (Wikipedia's methods 2 and 3, by parity)."""
    n = len(s)
    if n == 1:
        return s[0], s[0]
    if n % 2:  # method 3
        k, r = n // 4, n % 4
        if r == 1:
            return 0.25 * s[k - 1] + 0.75 * s[k], 0.75 * s[3 * k] + 0.25 * s[3 * k + 1]
        return 0.75 * s[k] + 0.25 * s[k + 1], 0.25 * s[3 * k + 1] + 0.75 * s[3 * k + 2]
    return statistics.median(s[: n // 2]), statistics.median(s[n // 2 :])  # method 2


def _stats(ns: list[int]) -> dict[str, Any]:
    """pytest-benchmark's stats block from raw samples (seconds), by its own rules (stats.py), with
    the raw ``data`` as ``--benchmark-save-data`` writes it."""
    data = [v / 1e9 for v in ns]
    s = sorted(data)
    n = len(s)
    q1, q3 = _quartiles(s)
    iqr = q3 - q1
    mean = statistics.mean(s)
    sd = statistics.stdev(s) if n > 1 else 0.0
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    iqr_out = sum(1 for v in s if v < lo or v > hi)
    sd_out = sum(1 for v in s if v < mean - sd or v > mean + sd)
    ld = s[0] if n == 1 else s[bisect.bisect_left(s, lo)]
    hd = s[0] if n == 1 else s[max(0, bisect.bisect_right(s, hi) - 1)]
    return {
        "min": s[0],
        "max": s[-1],
        "mean": mean,
        "stddev": sd,
        "rounds": n,
        "median": statistics.median(s),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_out,
        "stddev_outliers": sd_out,
        "outliers": f"{sd_out};{iqr_out}",
        "ld15iqr": ld,
        "hd15iqr": hd,
        "ops": 1.0 / mean if mean else 0.0,
        "total": sum(s),
        "data": data,
        "iterations": 1,
    }


def machine_info(run_machine: dict[str, Any]) -> dict[str, Any]:
    """``machine_info`` in pytest-benchmark's shape (``pytest_benchmark_generate_machine_info``), filled
    from the machine the run recorded: ``aibench report`` on a laptop must not stamp the laptop's CPU on
    figures measured on a vendor's server."""
    cpu = run_machine.get("cpu") or {}
    python = run_machine.get("python") or {}
    return {
        "node": run_machine.get("node"),
        "processor": run_machine.get("processor", cpu.get("model")),
        "machine": run_machine.get("machine"),
        "python_implementation": python.get("implementation"),
        "python_implementation_version": python.get("version"),
        "python_version": python.get("version"),
        "python_compiler": python.get("compiler"),
        "python_build": python.get("build"),
        "release": run_machine.get("release"),
        "system": run_machine.get("system"),
        "cpu": {
            "arch": run_machine.get("machine"),
            "count": cpu.get("logical"),
            "brand_raw": cpu.get("model"),
            "flags": list(cpu.get("isa") or []),
        },
    }


def _one_machine(machine: dict[str, Any]) -> dict[str, Any]:
    """A merged run holds several machines (``machines``); pytest-benchmark's file has room for one: the first."""
    many = machine.get("machines")
    return next(iter(many.values()), {}) if isinstance(many, dict) and many else machine


def benchmark_json(doc: dict[str, Any], results: list[Result]) -> dict[str, Any]:
    """The run as pytest-benchmark writes it: one benchmark per measured item (its batch latency; the
    other metrics in ``extra_info``, as github-action-benchmark and pytest-benchmark compare read it)."""
    machine = doc.get("machine", {})
    git = machine.get("git", {})
    benchmarks = []
    for r in results:
        ns = list(r.samples.get("latency_ns") or [])
        timed = notes.describe(r)
        rate = notes.throughput(r)
        if not ns and notes.measure_of(r) == "none" and rate:  # LoadGen offline: its seconds per sample
            ns, timed = [round(1e9 / rate[0])], "one round: seconds per sample of LoadGen's offline run (1 / samples/s)"
        if not ns:
            continue
        warm = (r.info.get("warmup") or {}).get("calls")
        benchmarks.append(
            {
                "group": r.suite,
                "name": label(r),
                "fullname": r.nodeid or r.id,
                "params": {k: v for k, v in r.axes.items() if k != "model"},
                "param": r.id.split("[", 1)[-1].rstrip("]"),
                "extra_info": {
                    "aibench.timed": timed,
                    **{k: v for k, v in r.metrics.items() if not k.startswith("latency.")},
                },
                "options": {
                    "disable_gc": True,
                    "timer": "perf_counter",
                    "min_rounds": len(ns),
                    "max_time": 0.0,
                    "min_time": 0.0,
                    "warmup": bool(warm),
                },
                "stats": _stats(ns),
            }
        )
    return {
        "machine_info": machine_info(_one_machine(machine)),
        "commit_info": {
            "id": git.get("commit"),
            "dirty": git.get("dirty"),
            "branch": git.get("branch"),
            "project": "pytest-aibench",
        },
        "benchmarks": benchmarks,
        "datetime": doc.get("finished") or datetime.now(timezone.utc).isoformat(),
        "version": PYTEST_BENCHMARK_VERSION,
    }


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def paired_verdict(r: Result) -> dict[str, Any] | None:
    """The first timing verdict of a paired item (``--aibench-against``), with its outcome, or None."""
    info = r.info.get("against") or {}
    return next((v for v in info.get("verdicts") or [] if v.get("ratio") is not None), None)


def _mark(r: Result) -> str | None:
    """What a continuous-benchmarking reader must know about an item that is not a clean pass."""
    if r.outcome not in ("passed", "skipped"):
        return f"{r.outcome.upper()}: {(r.reason or '').splitlines()[0][:160] if r.reason else 'no reason given'}"
    if r.metrics.get("loadgen.valid") is False:
        return f"LoadGen INVALID: {str(r.metrics.get('loadgen.invalid_reason') or '')[:160]}"
    return None


def gha_json(results: list[Result]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """github-action-benchmark's custom formats (``[{name, unit, value, range?, extra?}]``, read by its
    ``extractCustomBenchmarkResult``), in three lists because the action alerts on every entry of a file:

    - gated, smaller is better: what is stable between two runs: the paired gate's ratio (candidate /
      reference, measured side by side) where ``--aibench-against`` ran, else the median latency; and
      top-1 error (1 - accuracy). An unpaired item's tails (p99) and one-pass figures (time per item =
      1 / throughput of a single accuracy pass) follow as named extras (``... (extra: tail)``): an
      unpaired run has nothing a CI should alert on, and its file says which entries are not even stable;
    - bigger is better: accuracy;
    - extras (smaller is better, for charts, not for ``fail-on-alert``): a paired item's own median, tail
      and one-pass figures, which move by tens of percent between two runs of the same commit.

    A failed, erroring or LoadGen-INVALID item keeps its entries, its ``extra`` saying so."""
    gated: list[dict[str, Any]] = []
    bigger: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    for r in results:
        if r.outcome == "skipped":
            continue
        name = f"{r.suite} {label(r)}"
        m = r.metrics
        p50, p99, acc = (_num(m.get(k)) for k in ("latency.p50_ms", "latency.p99_ms", "accuracy"))
        rate = notes.throughput(r)
        mark = _mark(r)
        tail = f"; {mark}" if mark else ""
        extra = f"{notes.describe(r)}; samples: {len(r.samples.get('latency_ns') or [])}{tail}"
        v = paired_verdict(r)
        if v is not None:  # the paired gate's figure: stable where each side's own median is not
            gated.append(
                {
                    "name": f"{name} paired {v['metric']} ratio",
                    "unit": "x reference",
                    "value": v["ratio"],
                    "range": f"[{v['ci_low']:.4f}, {v['ci_high']:.4f}]",
                    "extra": f"paired {v['rule']}: {v['outcome']} over {v['pairs']} pairs{tail}",
                }
            )
            if p50 is not None:
                extras.append({"name": f"{name} p50 latency", "unit": "ms", "value": p50, "extra": extra})
        elif p50 is not None:
            gated.append(
                {"name": f"{name} p50 latency", "unit": "ms", "value": p50, "extra": extra, **_range(m, "p50")}
            )
        aside = extras if v is not None else gated  # a paired item's unstable figures go to the charts only
        if p99 is not None:
            aside.append(
                {
                    "name": f"{name} p99 latency (extra: tail)",
                    "unit": "ms",
                    "value": p99,
                    "extra": extra,
                    **_range(m, "p99"),
                }
            )
        _quality(r, name, acc, mark, gated, bigger)
        if rate:
            aside.append(
                {
                    "name": f"{name} time per item (extra: 1 / throughput of one pass)",
                    "unit": "ms",
                    "value": 1000.0 / rate[0],
                    "extra": rate[1] + tail,
                }
            )
    return gated, bigger, extras


def _quality(
    r: Result,
    name: str,
    acc: float | None,
    mark: str | None,
    gated: list[dict[str, Any]],
    bigger: list[dict[str, Any]],
) -> None:
    """Top-1 as its error (gated, smaller is better) and as itself; a task's headline (mAP, mIoU, PSNR...)
    as itself (bigger is better, compared as is)."""
    note = {"extra": mark} if mark else {}
    if acc is not None:
        gated.append({"name": f"{name} top-1 error (1 - accuracy)", "unit": "fraction", "value": 1.0 - acc, **note})
        bigger.append({"name": f"{name} accuracy", "unit": "fraction", "value": acc, **note})
    head = _task_quality(r)
    if head is not None:
        bigger.append({"name": f"{name} {head[0]}", "unit": head[2], "value": head[1], **note})


def _task_quality(r: Result) -> tuple[str, float, str] | None:
    """(headline, value, unit) of an item judged by a task other than classification, if measured."""
    task = task_of(r)
    if task is None or task == "classification":
        return None
    name = headline(task)
    value = _num(r.metrics.get(name))
    info = catalogue().get(name)
    if value is None or info is None or not info.higher_is_better:
        return None
    return name, value, {"1": "fraction", "": "score"}.get(info.unit, info.unit)


def _range(m: dict[str, Any], pct: str) -> dict[str, str]:
    """The percentile's confidence interval as github-action-benchmark's free-text ``range``."""
    lo, hi = _num(m.get(f"latency.{pct}_ci_low_ms")), _num(m.get(f"latency.{pct}_ci_high_ms"))
    return {"range": f"[{lo:.4g}, {hi:.4g}] ms (95 % CI)"} if lo is not None and hi is not None else {}


def _bounded(value: float, lo: float | None, hi: float | None, scale: float = 1.0) -> dict[str, float]:
    out = {"value": value * scale}
    if lo is not None and hi is not None and lo <= value <= hi:
        out |= {"lower_value": lo * scale, "upper_value": hi * scale}
    return out


def bmf_json(results: list[Result]) -> dict[str, dict[str, dict[str, float]]]:
    """Bencher's metric format (BMF): ``{benchmark: {measure: {value, lower_value?, upper_value?}}}``.
    Each measure's bounds are its own confidence interval, never another figure: ``latency`` (ns, the
    median with its 95 % CI), ``latency-p99`` (ns, with its CI); a LoadGen item's are ``query-latency`` and
    ``query-latency-p99`` (another quantity, so another measure); ``paired-ratio`` (candidate /
    reference with the paired gate's interval), ``throughput`` (items/s), ``accuracy``. An item that
    failed or whose LoadGen run was INVALID is kept and carries ``failed`` or ``loadgen-invalid`` = 1."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for r in results:
        if r.outcome == "skipped":
            continue
        m = r.metrics
        measures: dict[str, dict[str, float]] = {}
        p50, p99, acc = (_num(m.get(k)) for k in ("latency.p50_ms", "latency.p99_ms", "accuracy"))
        rate = notes.throughput(r)
        slug = "query-latency" if notes.measure_of(r) == "query" else "latency"  # LoadGen's is another measure
        for pct, value, name in (("p50", p50, slug), ("p99", p99, f"{slug}-p99")):
            if value is not None:
                measures[name] = _bounded(
                    value, _num(m.get(f"latency.{pct}_ci_low_ms")), _num(m.get(f"latency.{pct}_ci_high_ms")), 1e6
                )
        v = paired_verdict(r)
        if v is not None:  # candidate / reference with its interval; an UNKNOWN one straddles the tolerance
            measures["paired-ratio"] = _bounded(float(v["ratio"]), v.get("ci_low"), v.get("ci_high"))
        if rate:
            measures["throughput"] = {"value": float(rate[0])}
        if acc is not None:
            measures["accuracy"] = {"value": acc}
        head = _task_quality(r)
        if head is not None:
            measures[head[0].replace(".", "-").replace("_", "-")] = {"value": head[1]}
        if r.outcome not in ("passed", "skipped"):
            measures["failed"] = {"value": 1.0}
        if m.get("loadgen.valid") is False:
            measures["loadgen-invalid"] = {"value": 1.0}
        if measures:
            out[r.id] = measures
    return out


def to_csv(results: list[Result]) -> str:
    """One row per item: identity, axes, outcome, then every metric (flat dotted names): the leaderboard's
    declared columns first, then the other declared metrics in the catalogue's order, then any undeclared."""
    axes = sorted({k for r in results for k in r.axes})
    recorded = {k for r in results for k in r.metrics}
    cat = catalogue()
    order = {name: i for i, name in enumerate(dict.fromkeys([n for n, _ in cat.columns()] + list(cat)))}
    metrics = sorted(recorded, key=lambda k: (order.get(k, len(order)), k))
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "id",
            "suite",
            "suite_version",
            *axes,
            "outcome",
            "reason",
            "host",
            "seed",
            "dataset_sha256",
            "artifact_sha256",
            *metrics,
        ]
    )
    for r in results:
        w.writerow(
            [
                r.id,
                r.suite,
                r.suite_version,
                *(r.axes.get(a, "") for a in axes),
                r.outcome,
                r.reason or "",
                notes.busy(r) or "",
                r.seed,
                r.dataset.get("sha256", ""),
                r.artifact.get("sha256", ""),
                *(r.metrics.get(m, "") for m in metrics),
            ]
        )
    return out.getvalue()


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(rs: list[Result]) -> list[str]:
    cols = columns(rs)
    lines = [
        "| item | " + " | ".join(info.column for _, info in cols) + " | outcome |",
        "|---|" + "---:|" * len(cols) + "---|",
    ]
    for r in rs:
        cells = [info.show(r.metrics.get(name)) for name, info in cols]
        outcome = r.outcome + (f": {r.reason.splitlines()[0][:120]}" if r.reason and r.outcome != "passed" else "")
        if notes.busy(r):
            outcome = f"{notes.BUSY_MARK} host busy; {outcome}"
        lines.append(f"| `{_md_cell(label(r))}` | " + " | ".join(cells) + f" | {_md_cell(outcome)} |")
    return lines


def to_markdown(results: list[Result], comparison: Comparison | None = None) -> str:
    """Leaderboards (and the baseline comparison) as GitHub-flavoured Markdown for a PR comment."""
    lines = []
    summaries = summarize(results)
    for suite, s in summaries.items():
        everything = [r for r in results if r.suite == suite]
        rs = [r for _, r in ranked(everything)]
        lines += [
            f"### {_md_cell(suite)} {_md_cell(s['version'])}",
            "",
            f"{s['items']} items: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
            f"{s['error']} errors"
            + (f"; VIPS total {s['vips_total']:.1f}" if s.get("vips_total") else "")
            + (f"; **{notes.busy_summary(rs)}**" if notes.busy_summary(rs) else ""),
        ]
        groups = by_task(everything)
        for task, group in groups.items():
            lines += [""] + ([f"**{_md_cell(task)}**, ranked by `{score_of(group)}`", ""] if len(groups) > 1 else [])
            lines += _md_table([r for _, r in ranked(group)])
        lines.append("")
        for text in (notes.latency_legend(rs), notes.busy_line(rs)):
            if text:
                lines += [_md_cell(text), ""]
        invalid = notes.invalid_runs(rs)
        if invalid:
            lines += [f"- LoadGen INVALID `{_md_cell(item)}`: {_md_cell(why)}" for item, why in invalid] + [""]
    lines += paired.markdown_lines(results)
    if comparison:
        lines += comparison_markdown(comparison)
    return "\n".join(lines)


def comparison_markdown(c: Comparison) -> list[str]:
    lines = [
        f"### Compared with `{_md_cell(c.baseline)}`",
        "",
        f"{c.matched} matched, {len(c.regressions)} regressed, {len(c.new)} new, {len(c.missing)} missing",
        "",
    ]
    for note in c.machine:
        lines.append(f"- machine differs: {_md_cell(note)}")
    if c.regressions:
        lines += ["", "| item | regression |", "|---|---|"]
        lines += [f"| `{_md_cell(i)}` | {_md_cell(msg)} |" for i, msg in c.regressions]
    if c.inconclusive:
        lines += ["", "| item | inconclusive (rerun on a quiet host) |", "|---|---|"]
        lines += [f"| `{_md_cell(i)}` | {_md_cell(msg)} |" for i, msg in c.inconclusive]
    if c.changes:
        lines += ["", "| item | metric | baseline | current | change |", "|---|---|---:|---:|---:|"]
        for item, metric, b, cur, change in c.changes:
            lines.append(f"| `{_md_cell(item)}` | {metric} | {b:.6g} | {cur:.6g} | {change:+.1%} |")
    return lines + [""]
