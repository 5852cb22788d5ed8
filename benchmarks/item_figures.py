"""Figures that belong to their item, and threads that behave on a shared machine, as a run JSON reports them.

(f) beside a busy neighbour: a CPU-bound process runs on one core while smoke's torch items run at their
    default threads (every usable core), the default ``spin_wait``; printed per item: mean / p50 and
    p99 / p50 of its timed calls, and the wait policy it recorded with the reason (the goal: mean within
    2x p50). Without ``--quick`` the same items again with ``spin_wait: true`` (libgomp spinning, what a
    dedicated machine wants) and fewer calls, to show what the default avoids. Each session is its own
    process, since torch's OpenMP policy is fixed once torch loads.
(g) memory: smoke's ONNX Runtime fp32 item alone in a session, and after the torch and LiteRT items in
    another (the torch import and their models resident): the process's high-water mark
    (``memory.peak_rss_mb``) carries what ran before, the item's own peak (``memory.item_peak_mb``) should not.
(h) threads: every smoke item at 2 threads, no neighbour: threads asked for, ``runner.threads_busy`` (the
    threads with CPU time >= 10 % of the timed calls' wall time) and each busy thread's CPU seconds. A
    spin-waiting thread burns CPU without working, so beside it, per runtime, the speed of its own call on
    a session prepared with 2 threads against one with 1 (interleaved rounds): whether the second thread
    helped, which CPU time alone cannot say where the pool spins (LiteRT's XNNPACK pool always does).

Usage: python benchmarks/item_figures.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from pytest_aibench.core.result import flatten

ROOT = Path(__file__).resolve().parents[1]


def _suite(work: Path, name: str, **settings: Any) -> Path:
    """Smoke's manifest with its frameworks and settings changed (quick profile kept)."""
    data = yaml.safe_load((ROOT / "suites/smoke/suite.yaml").read_text())
    frameworks = settings.pop("frameworks", None)
    if frameworks:
        data["frameworks"] = frameworks
    data["settings"] = {**(data.get("settings") or {}), **settings}
    path = work / name / "suite.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _session(work: Path, suite: Path, select: str = "") -> list[dict[str, Any]]:
    """Run ``suite`` (the items ``select`` picks) in a fresh pytest process; its items as the run JSON has them."""
    out = suite.parent / f"run{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "pytest", "--aibench", str(suite), "-q", "-p", "no:cacheprovider"]
    cmd += ["--aibench-json", str(out), "--aibench-out", str(work / "o"), *(["-k", select] if select else [])]
    run = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if not out.exists():
        sys.exit(f"{' '.join(cmd)} wrote no run JSON:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return json.loads(out.read_text())["items"]


def _name(item: dict[str, Any]) -> str:
    return item["id"].split("::")[-1]


@contextmanager
def neighbour() -> Iterator[None]:
    """A CPU-bound process for the block (started first: the session reads its neighbours when it starts)."""
    from paired_promise import _hog

    proc = _hog()
    try:
        time.sleep(1.0)
        yield
    finally:
        proc.kill()
        proc.wait()


def _spread(item: dict[str, Any]) -> str:
    m = flatten(item["metrics"])
    p50, mean, p99 = (m.get(f"latency.{k}_ms") for k in ("p50", "mean", "p99"))
    if not p50:
        return "no latency"
    runner = item.get("runner") or {}
    spin = runner.get("spin_wait")
    return (
        f"p50 {p50:.3f} ms, mean / p50 {mean / p50:.2f}, p99 / p50 {p99 / p50:.2f}, {m.get('latency.samples')} calls; "
        f"threads busy {runner.get('threads_busy')} ({_cpu(item)}); "
        f"spin_wait {spin} ({runner.get('spin_why') or 'no reason recorded'})"
    )


def busy_neighbour(work: Path, quick: bool) -> None:
    cases = [("default", {}, {})]
    if not quick:
        cases.append(("spin_wait: true", {"spin_wait": True}, {"latency_samples": 40, "latency_rounds": 1}))
    for k, (label, setting, fewer) in enumerate(cases):
        suite = _suite(work, f"spin{k}", frameworks=["torch"], **setting)
        if fewer:  # spinning beside a neighbour is 10-600x slower a call: a few calls show it
            data = yaml.safe_load(suite.read_text())
            data["profiles"]["quick"] = {**data["profiles"]["quick"], **fewer}
            suite.write_text(yaml.safe_dump(data, sort_keys=False))
        with neighbour():
            start = time.perf_counter()
            items = _session(work, suite)
            wall = time.perf_counter() - start
        print(f"(f) beside a busy neighbour, smoke's torch items at {os.cpu_count()} threads, {label} ({wall:.1f} s):")
        for item in items:
            print(f"    {_name(item)}: {_spread(item)}")


def memory(work: Path) -> dict[str, Any]:
    target = "tinycnn[onnxruntime-fp32-single]"
    suite = _suite(work, "mem", frameworks=["torch", "litert", "onnxruntime"], threads=2)
    alone = next(i for i in _session(work, suite, "onnxruntime and fp32") if _name(i) == target)
    items = _session(work, suite)
    after = next(i for i in items if _name(i) == target)
    print(f"(g) {target}, alone in its session / after {len(items) - 1} torch and LiteRT items:")
    for key in ("memory.peak_rss_mb", "memory.item_peak_mb", "memory.baseline_mb"):
        a, b = (flatten(i["metrics"]).get(key) for i in (alone, after))
        if a is not None and b is not None:
            print(f"    {key}: {a:.1f} / {b:.1f} MiB ({b / a if a else float('nan'):.2f}x)")
    print(f"    ({alone['info'].get('peak_memory')})")
    return {_name(i): i for i in items}


def threads(items: dict[str, dict[str, Any]]) -> None:
    print("(h) threads asked for / busy while timed (CPU time >= 10 % of the timed wall time), 2 threads:")
    for name, item in items.items():
        runner = item.get("runner") or {}
        print(f"    {name}: asked {item['settings'].get('threads')}, busy {runner.get('threads_busy')} ({_cpu(item)})")


def speedup(rounds: int, calls: int) -> None:
    """(h) the runtime's own call at 1 and 2 threads on smoke's tinycnn fp32, interleaved rounds."""
    import numpy as np
    from runner_overhead import bare_call

    from pytest_aibench.artifact import resolve
    from pytest_aibench.core.model import ModelSpec, Settings
    from pytest_aibench.registry import RUNNERS
    from pytest_aibench.sim.node import Node

    x = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
    spec = ModelSpec(name="tinycnn", dataset="digits", zoo="tinycnn-digits")
    for framework in ("litert", "onnxruntime", "torch"):
        runner = RUNNERS.get(framework)
        artifact = resolve(spec, framework, "fp32", runner)
        sessions = {n: runner.prepare(artifact, Node(threads=n), Settings()) for n in (1, 2)}
        calls_of = {n: bare_call(framework, s, x) for n, s in sessions.items()}
        pool = _torch_threads if framework == "torch" else lambda n: None
        medians: dict[int, list[float]] = {1: [], 2: []}
        for r in range(rounds + 1):
            for n in (1, 2) if r % 2 else (2, 1):
                pool(n)
                times = []
                for _ in range(calls):
                    t0 = time.perf_counter_ns()
                    calls_of[n](x)
                    times.append(time.perf_counter_ns() - t0)
                if r:  # round 0 warms both
                    medians[n].append(statistics.median(times))
        for s in sessions.values():
            s.close()
        one, two = (statistics.median(medians[n]) / 1e3 for n in (1, 2))
        print(
            f"    {framework} tinycnn fp32, its own call: 1 thread {one:.1f} µs, 2 threads {two:.1f} µs: 2 threads {one / two:.2f}x as fast"
        )


def _torch_threads(n: int) -> None:
    """torch has one OpenMP pool per process: each side's round sets the threads it was prepared with."""
    import torch

    torch.set_num_threads(n)


def _cpu(item: dict[str, Any]) -> str:
    busy = (item.get("info") or {}).get("threads_busy") or {}
    cpu = ", ".join(f"{s * 1e3:.1f}" for s in busy.get("cpu_s") or [])
    return f"CPU ms of each: {cpu or '-'} in {busy.get('wall_s', float('nan')) * 1e3:.1f} ms of timed wall"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the default policy only (CI runs it so; not asserted)")
    args = ap.parse_args()
    os.environ.setdefault("AIBENCH_QUIET", "1")
    flags = [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_int8") if f in Path("/proc/cpuinfo").read_text()]
    print(f"CPU: {os.cpu_count()} logical, flags {' '.join(flags) or 'none of avx2/avx512'}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        busy_neighbour(work, args.quick)
        threads(memory(work))
    speedup(3 if args.quick else 7, 300 if args.quick else 2000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
