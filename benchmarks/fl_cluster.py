"""Federated learning with many clients: wall time in-process against a loopback Dask cluster.

Runs edge-cloud's ``federated_learning`` (good topology) with --clients clients (default 100) and
--rounds rounds, in one process and on ``local:2`` (two worker processes), alternating --repeats times,
and prints the medians side by side. The same seed gives the same accuracy on both (checked).

Usage: python benchmarks/fl_cluster.py [--clients 100] [--rounds 3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(folder: Path, extra: list[str], tag: str) -> tuple[float, float]:
    out = folder / f"{tag}.json"
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--aibench",
            str(folder / "suite.yaml"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "federated_learning-good",
            "--aibench-json",
            str(out),
            "--aibench-out",
            str(folder / "o"),
            *extra,
        ],
        cwd=folder,
        check=False,
        capture_output=True,
    )  # a gate may fail: wall time counts
    wall = time.perf_counter() - t0
    (item,) = json.loads(out.read_text())["items"]
    return wall, item["metrics"]["accuracy"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1, help="local epochs per client per round")
    ap.add_argument("--quick", action="store_true", help="8 clients, 1 round, 1 run each (CI runs it so)")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.rounds, args.repeats = 8, 1, 1
    text = (ROOT / "suites" / "edge-cloud" / "suite.yaml").read_text()
    text = text.replace(
        "federated_learning: {clients: 8, rounds: 8, local_epochs: 1,",
        f"federated_learning: {{clients: {args.clients}, rounds: {args.rounds}, local_epochs: {args.epochs},",
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "suite.yaml").write_text(text)
        local, cluster = [], []
        for i in range(args.repeats):
            local.append(run(folder, [], f"local{i}"))
            cluster.append(run(folder, ["--aibench-cluster", "local:2"], f"cluster{i}"))
    assert {a for _, a in local} == {a for _, a in cluster}, "accuracy differs between backends"
    ml, mc = statistics.median(w for w, _ in local), statistics.median(w for w, _ in cluster)
    print(
        f"federated_learning, {args.clients} clients x {args.rounds} rounds x {args.epochs} local epochs, good "
        f"topology; accuracy "
        f"{local[0][1]:.4f} on both backends"
    )
    print(f"{'backend':<28}{'median wall s':>14}   (whole pytest process, {args.repeats} runs each)")
    print(f"{'in-process':<28}{ml:>14.2f}")
    print(f"{'local:2 (Dask, 2 workers)':<28}{mc:>14.2f}")
    print(f"ratio local:2 / in-process: {mc / ml:.2f}")


if __name__ == "__main__":
    main()
