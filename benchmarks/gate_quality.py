"""Gate quality: false alarms (A/A) and detections (A/B, 10 % injected slowdown) of our regression gate
and of pytest-benchmark's ``median:5%``, judged on the same samples.

Each measurement is a separate pytest process running smoke's ``tinycnn[onnxruntime-fp32-single]`` with
its ``ci`` profile (700 timed calls in 7 rounds spread over 6 s, each on a freshly prepared runner), as
CI compares a run against a saved baseline. Pairs alternate A/A and A/B so bursts of machine noise hit
both kinds (``--ab-every K`` keeps an A/B pair to every K-th round).
B runs with benchmarks/_slow_runner.py, which busy-waits 10 % of each call's duration.

Gates judged on the very same runs: ours (``latency.p50:+5%``: beyond 5 % and, on the round medians,
a one-sided rank test p < compare.ROUNDS_ALPHA, unless the host explains it), the stricter variant
that also demands complete separation of the rounds, and pytest-benchmark's (the median of all samples rose more than 5 %). With ``--keep DIR`` the
runs are kept; ``--rejudge DIR`` judges kept runs again without measuring.

``--kinds aa`` measures A/A pairs only (bounding the false-alarm rate below 1 % takes 300 of them).

``--mode paired`` measures the paired gate (``--aibench-against``) instead, beside this unpaired gate and
pytest-benchmark's on the same runs (benchmarks/_paired_quality.py says how): ``--trials N`` more
trials into ``--keep DIR`` (resumable), then the report; ``--rejudge DIR`` reports without measuring.

Usage: python benchmarks/gate_quality.py [--pairs 20] [--kinds aa,ab] [--ab-every K] [--keep DIR | --rejudge DIR]
       python benchmarks/gate_quality.py --mode paired --keep DIR [--trials 240] | --rejudge DIR
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pytest_aibench.core.result import Result
from pytest_aibench.judge import compare
from pytest_aibench.judge.compare import judge, parse_rules

ROOT = Path(__file__).resolve().parents[1]


def measure(out: Path, slowdown: float) -> Result:
    env = {**os.environ, "AIBENCH_SLOWDOWN": str(slowdown), "PYTHONPATH": str(ROOT / "benchmarks")}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--aibench",
            "suites/smoke",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "_slow_runner",
            "-p",
            "no:hypothesispytest",
            "-k",
            "onnxruntime-fp32",
            "--aibench-profile",
            "ci",
            "--aibench-json",
            str(out),
            "--aibench-out",
            str(out.parent / "o"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
    )
    (item,) = json.loads(out.read_text())["items"]
    return Result.from_dict(item)


def strict(rule, base: Result, cur: Result) -> bool:
    """Our gate plus complete separation of the rounds."""
    v = judge(rule, base, cur)
    return v.regressed and "fully separated" in v.evidence


def upper95(k: int, n: int) -> float:
    """One-sided 95 % upper bound of a rate seen k times in n (Clopper-Pearson)."""
    if k >= n:
        return 1.0
    lo, hi = k / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        tail = sum(math.comb(n, i) * mid**i * (1 - mid) ** (n - i) for i in range(k + 1))
        lo, hi = (mid, hi) if tail > 0.05 else (lo, mid)
    return hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--rejudge", type=Path)
    ap.add_argument("--kinds", default="aa,ab", help="which pairs to measure: aa, ab or both")
    ap.add_argument(
        "--ab-every",
        type=int,
        default=1,
        metavar="K",
        help="measure an A/B pair only every K-th round of pairs (A/A pairs are the costly evidence: "
        "bounding false alarms below 1 %% takes 300 of them, detection needs far fewer)",
    )
    ap.add_argument("--mode", choices=("unpaired", "paired"), default="unpaired")
    ap.add_argument(
        "--trials",
        type=int,
        default=240,
        help="--mode paired: trials to measure (22 per cycle: 16 A/A, 4 of 10 %, one each of 5 % and 3 %)",
    )
    ap.add_argument("--quick", action="store_true", help="one paired A/A trial in a temporary folder (CI runs it so)")
    args = ap.parse_args()
    if args.quick:
        args.mode, args.trials, args.keep, args.rejudge = "paired", 1, None, None
    if args.mode == "paired":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import _paired_quality as pq

        folder = args.rejudge or args.keep or Path(tempfile.mkdtemp())
        if not args.rejudge:
            pq.prepare(folder)
            pq.measure(folder, args.trials)
        pq.report(folder, upper95)
        return
    kinds = [k for k in (("aa", 0.0), ("ab", 0.10)) if k[0] in args.kinds.split(",")]
    folder = args.rejudge or args.keep or Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    if not args.rejudge:
        for i in range(args.pairs):
            for kind, slowdown in kinds:
                if kind == "ab" and i % max(1, args.ab_every):
                    continue
                base = measure(folder / f"{kind}{i:03d}-base.json", 0.0)
                cur = measure(folder / f"{kind}{i:03d}-cur.json", slowdown)
                b, c = base.metrics["latency.p50_ms"], cur.metrics["latency.p50_ms"]
                print(f"pair {i + 1}/{args.pairs} {kind}: {c / b - 1:+.1%}", file=sys.stderr, flush=True)
    (rule,) = parse_rules("latency.p50_ms:+5%")
    gates = {
        "pytest-aibench latency.p50:+5%": lambda b, c: judge(rule, b, c).regressed,
        "  of ours: inconclusive, host busy": lambda b, c: judge(rule, b, c).inconclusive,
        "  stricter: rounds fully separated": lambda b, c: strict(rule, b, c),
        "pytest-benchmark median:5%": lambda b, c: (
            (c.metrics["latency.p50_ms"] / b.metrics["latency.p50_ms"] - 1) > 0.05
        ),
    }
    counts = {name: {"aa": 0, "ab": 0} for name in gates}
    changes = {"aa": [], "ab": []}
    n = {"aa": 0, "ab": 0}
    for base_path in sorted(folder.glob("*-base.json")):
        kind = base_path.name[:2]
        cur_path = base_path.with_name(base_path.name.replace("-base", "-cur"))
        if not cur_path.is_file():  # an interrupted (or still running) measurement: not a pair yet
            continue
        base = Result.from_dict(json.loads(base_path.read_text())["items"][0])
        cur = Result.from_dict(json.loads(cur_path.read_text())["items"][0])
        n[kind] += 1
        changes[kind].append(cur.metrics["latency.p50_ms"] / base.metrics["latency.p50_ms"] - 1)
        for name, gate in gates.items():
            counts[name][kind] += bool(gate(base, cur))
    if not n["aa"] and not n["ab"]:
        sys.exit(f"no measured pairs in {folder}")
    print(
        f"{n['aa']} A/A and {n['ab']} A/B pairs (+10 % injected), separate processes, alternating; "
        f"rank-test alpha {compare.ROUNDS_ALPHA}"
    )
    print(f"{'gate':<38}{'false alarms (A/A)':>30}{'detections (A/B)':>20}")
    for name, c in counts.items():
        fa = (
            f"{c['aa']:>6}/{n['aa']} {c['aa'] / n['aa']:>5.1%} (<= {upper95(c['aa'], n['aa']):.1%})"
            if n["aa"]
            else f"{'-':>30}"
        )
        det = f"{c['ab']:>8}/{n['ab']} {c['ab'] / n['ab']:>6.1%}" if n["ab"] else f"{'-':>20}"
        print(f"{name:<38}{fa}{det}")
    print("targets: false alarms < 1 %, detection >= 95 %; (<= x) is the one-sided 95 % upper bound")
    for kind, label in (("aa", "A/A"), ("ab", "A/B")):
        v = sorted(changes[kind])
        if not v:
            continue
        print(f"{label} change of the p50: median {v[len(v) // 2]:+.1%}, range {v[0]:+.1%} .. {v[-1]:+.1%}")


if __name__ == "__main__":
    main()
