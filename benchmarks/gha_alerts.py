"""Does the README's github-action-benchmark workflow cry wolf? Five A/A paired runs (the candidate folder
holds the very model the reference holds), then one with a +10 % slower candidate, each writing
``--aibench-gha-json``; the alert rule github-action-benchmark applies (its ``src/write.ts``: for each
entry of the new run with a previous one of the same name, ratio = current / previous for
``customSmallerIsBetter``; an alert when ratio > ``alert-threshold``, 108 % in the README) is applied
between consecutive runs, to the file the README's workflow alerts on and, for contrast, to the extras file.

Models: paired_promise.py's MatMul chains (30 identity layers; 33 for +10 %), one thread, a CPU-bound
neighbour running throughout unless --no-load.

Usage: python benchmarks/gha_alerts.py [--runs 5] [--items 3] [--no-load] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from paired_promise import ROOT, _hog, chain, folder_for

THRESHOLD = 1.08  # the README's alert-threshold: "108%"


def alerts(previous: list[dict], current: list[dict], threshold: float = THRESHOLD) -> list[str]:
    """github-action-benchmark's findAlerts for a smaller-is-better list: names whose value grew by more
    than the threshold against the previous run's entry of the same name."""
    before = {e["name"]: e for e in previous}
    out = []
    for e in current:
        prev = before.get(e["name"])
        if prev is None or not prev["value"]:
            continue
        ratio = e["value"] / prev["value"]
        if ratio > threshold:
            out.append(f"{e['name']}: {ratio:.3f}x ({prev['value']:.4g} -> {e['value']:.4g})")
    return out


def run(cand: Path, ref: Path, out: Path) -> tuple[list[dict], list[dict]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--aibench",
            "suite.yaml",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            "--aibench-against",
            str(ref),
            "--aibench-fail-on",
            "latency.p50:+2%",
            "--aibench-gha-json",
            str(out),
            "--aibench-out",
            str(out.parent / "o"),
        ],
        cwd=cand,
        env=env,
        capture_output=True,
        check=False,
    )
    extras = out.with_name(out.stem + ".extras" + out.suffix)
    return (
        json.loads(out.read_text()) if out.is_file() else [],
        json.loads(extras.read_text()) if extras.is_file() else [],
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5, help="A/A paired runs")
    ap.add_argument("--items", type=int, default=3, help="items (copies of the model) per run")
    ap.add_argument("--no-load", action="store_true")
    ap.add_argument("--quick", action="store_true", help="2 A/A runs of 1 item (CI runs it so; not a finding)")
    args = ap.parse_args()
    runs, items = (2, 1) if args.quick else (args.runs, args.items)
    hog = None if args.no_load else _hog()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            ref = folder_for(root, "ref", lambda p: chain(p, 30), items, 256)
            same = folder_for(root, "same", lambda p: chain(p, 30), items, 256)
            slower = folder_for(root, "slower", lambda p: chain(p, 33), items, 256)
            history = [run(same, ref, root / f"aa{i}.json") for i in range(runs)]
            history.append(run(slower, ref, root / "slow.json"))
    finally:
        if hog is not None:
            hog.kill()
    aa_alerts = [alerts(history[i - 1][0], history[i][0]) for i in range(1, runs)]
    aa_extras = [alerts(history[i - 1][1], history[i][1]) for i in range(1, runs)]
    slow_alerts = alerts(history[runs - 1][0], history[runs][0])
    print(
        f"{runs} A/A paired runs of {items} items ({'no load' if args.no_load else 'a CPU-bound neighbour'}); "
        f"github-action-benchmark's rule at {THRESHOLD:.0%} between consecutive runs"
    )
    for i, run_entries in enumerate(history):
        ratios = [f"{e['value']:.3f}" for e in run_entries[0] if "ratio" in e["name"]]
        print(f"  run {i + 1}{' (+10 %)' if i == runs else ''}: paired ratios {' '.join(ratios)}")
    print(
        f"alerts on the gated file over {runs - 1} A/A comparisons: {sum(len(a) for a in aa_alerts)}"
        + "".join(f"\n  {a}" for batch in aa_alerts for a in batch)
    )
    print(f"alerts the extras file (tails, one pass) would have raised: {sum(len(a) for a in aa_extras)}")
    print(f"alerts on the +10 % run: {len(slow_alerts)} of {items} items" + "".join(f"\n  {a}" for a in slow_alerts))


if __name__ == "__main__":
    main()
