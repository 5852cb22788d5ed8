"""The ``aibench`` command: look at, report, compare and merge runs written by ``--aibench-json`` or
``--aibench-save``, without running pytest. Option names match the plugin's where they overlap."""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_aibench.cli.bundle import add_commands
from pytest_aibench.cli.runs import load_run as _load
from pytest_aibench.core.result import Result
from pytest_aibench.judge.catalogue import known_metric_names
from pytest_aibench.judge.compare import RuleError, judge, match, parse_rules
from pytest_aibench.report import notes, runjson
from pytest_aibench.report.formats import RunOutput, formats
from pytest_aibench.report.paired import terminal_lines as paired_lines
from pytest_aibench.report.ranking import label
from pytest_aibench.report.terminal import leaderboard, table


def cmd_show(args: argparse.Namespace) -> int:

    doc, results = _load(args.run)
    m = doc.get("machine", {})
    print(
        f"run {doc.get('run_id')} · seed {doc.get('seed')} · profile {doc.get('profile')} · "
        f"{m.get('cpu', {}).get('model', '?')} ({m.get('node', '?')})"
        + (f" · {notes.busy_summary(results)}" if notes.busy_summary(results) else "")
    )
    for line in leaderboard(results) + paired_lines(results):
        print(line)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write a finished run in every format asked for (the same registry the plugin's options come from)."""
    doc, results = _load(args.run)
    wanted = [(fmt, getattr(args, fmt.flag_dest)) for fmt in formats() if getattr(args, fmt.flag_dest, None)]
    if not wanted:
        raise SystemExit("aibench report: name at least one of " + ", ".join(f.flag for f in formats()))
    out = RunOutput(doc, results)
    for fmt, path in wanted:
        for written in fmt.write(out, Path(path)):
            print(f"wrote {written}")
    return 0


UNPAIRED_NOTE = (
    "note: an unpaired comparison (two runs measured at different times, in different processes) is "
    "the weaker test: on a shared machine a median moves by tens of percent between processes. "
    "For a gate, re-measure the baseline beside the change: pytest --aibench ... --aibench-against REF"
)


def cmd_compare(args: argparse.Namespace) -> int:
    """Exit 1 when any rule finds a regression, 0 otherwise (CI-friendly)."""

    base_doc, base = _load(args.baseline)
    cur_doc, cur = _load(args.current)
    try:
        rules = parse_rules(args.fail_on or "latency.p50:+10%,accuracy:-0.005", known_metric_names())
    except RuleError as exc:
        raise SystemExit(f"aibench compare: {exc}") from None
    c = match(base, cur, base_doc.get("machine"), cur_doc.get("machine"))
    rows, regressions, inconclusive = [], [], []
    for b, r in c.matched:
        for rule in rules:
            v = judge(rule, b, r)
            if v.baseline is None:
                continue
            change = f"{v.change:+.1%}" if rule.relative else f"{v.change:+.6g}"
            rows.append(
                [
                    label(r),
                    rule.metric,
                    f"{v.baseline:.6g}",
                    f"{v.current:.6g}",
                    change,
                    "REGRESSED" if v.regressed else "inconclusive" if v.inconclusive else "ok",
                ]
            )
            if v.regressed:
                regressions.append(f"{label(r)}: {v.message()}")
            elif v.inconclusive:
                inconclusive.append(f"{label(r)}: {v.message()}")
    for line in table(["item", "metric", "baseline", "current", "change", "verdict"], rows, {2, 3, 4}):
        print(line)
    print(f"{len(c.matched)} matched, {len(regressions)} regressed, {len(c.new)} new, {len(c.missing)} missing")
    for note in c.machine_notes:
        print(f"machine differs: {note}")
    print(UNPAIRED_NOTE)
    for line in regressions:
        print(f"REGRESSED {line}")
    for line in inconclusive:
        print(f"INCONCLUSIVE {line}")
    return 1 if regressions else 0


def cmd_merge(args: argparse.Namespace) -> int:
    """Runs from several machines into one document: each item keeps its machine, and ids are made
    unique with the machine's name so one leaderboard ranks them together."""

    merged: list[Result] = []
    machines: dict[str, Any] = {}
    manifests: dict[tuple[Any, Any], Any] = {}
    sources: list[dict[str, Any]] = []
    for path in args.runs:
        doc, results = _load(path)
        m = doc.get("machine", {})
        name = str(m.get("node") or doc.get("run_id"))
        if name in machines and machines[name] != m:
            name = f"{name}#{len(machines)}"
        machines[name] = m
        sources.append({"path": path, "run_id": doc.get("run_id"), "machine": name})
        for man in doc.get("manifests", []):
            manifests.setdefault((man.get("path"), man.get("sha256")), man)
        for r in results:
            r.info["machine"] = name
            r.id = f"{r.id}@{name}"
            merged.append(r)
    doc = runjson.build(
        {"run_id": "merged-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S"), "merged_from": sources},
        {"machines": machines},
        list(manifests.values()),
        merged,
    )
    runjson.write_atomic(Path(args.output), doc)
    for line in leaderboard(merged):
        print(line)
    print(f"wrote {args.output} ({len(merged)} items from {len(sources)} runs)")
    return 0


def main(argv: list[str] | None = None) -> int:

    if hasattr(signal, "SIGPIPE"):  # `aibench show run.json | head` ends quietly, as Unix tools do
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = argparse.ArgumentParser(
        prog="aibench", description="Look at, report, compare and merge pytest-aibench runs."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    run_help = (
        "run JSON (--aibench-json), saved name (--aibench-save), a run's folder or journal.jsonl, or "
        "'latest' (the default: the newest journal under .aibench/runs, which every run writes)"
    )
    p = sub.add_parser("show", help="print a run's leaderboards")
    p.add_argument("run", nargs="?", default="latest", help=run_help)
    p.set_defaults(fn=cmd_show)
    p = sub.add_parser("report", help="write a run as HTML, Markdown, CSV or pytest-benchmark JSON")
    p.add_argument("run", nargs="?", default="latest", help=run_help)
    for fmt in formats():
        p.add_argument(fmt.flag, metavar="PATH", dest=fmt.flag_dest, help=fmt.help)
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser(
        "compare",
        help="compare a run with a baseline, unpaired (weaker than --aibench-against); exit 1 on a regression",
    )
    p.add_argument("baseline")
    p.add_argument("current")
    p.add_argument(
        "--fail-on", metavar="RULES", help="as --aibench-fail-on (default latency.p50:+10%%,accuracy:-0.005)"
    )
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("merge", help="merge runs from several machines into one leaderboard")
    p.add_argument("runs", nargs="+")
    p.add_argument("-o", "--output", default="merged.json")
    p.set_defaults(fn=cmd_merge)

    add_commands(sub)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
