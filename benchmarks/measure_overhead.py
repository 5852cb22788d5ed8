"""What measuring costs, printed side by side from one run (the machines are noisy: compare within it).

(a) per-inference overhead with a no-op runner: the built-in timing loop (target under 5 µs), the
    LoadGen single-stream path (callback, queue, worker thread, completion), and the highest server
    QPS that path sustains VALID under a 10 ms bound (what server calibration must respect);
(b) the same item (smoke's tinycnn on onnxruntime, fp32) run 5 times in separate pytest processes:
    coefficient of variation of its median latency (target under 3 %);
(c) one function (tinycnn on onnxruntime, batch 1) timed by pytest-benchmark and by pytest-aibench
    in the same pytest process, medians side by side.

Usage: python benchmarks/measure_overhead.py [--skip-b] [--skip-c] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from pytest_aibench.measure.timing import time_calls
from pytest_aibench.progress import Progress

ROOT = Path(__file__).resolve().parents[1]


class NoOp:
    """A runner session that returns constant scores: everything measured is overhead."""

    settings: dict = {}
    _scores = np.zeros((1, 10), np.float32)

    def adapt(self, x):
        return x

    def infer(self, batch):
        return self._scores if len(batch) == 1 else np.zeros((len(batch), 10), np.float32)


def builtin_overhead() -> float:
    inputs = [np.zeros((1, 1, 8, 8), np.float32)] * 16
    return statistics.median(statistics.median(time_calls(NoOp().infer, inputs, 100, 20000)) for _ in range(5))


def loadgen_overhead(quick: bool = False) -> tuple[float, float] | None:
    try:
        import mlperf_loadgen  # noqa: F401
    except ImportError:
        return None
    from pytest_aibench.core.model import Settings
    from pytest_aibench.measure import loadgen

    xa = np.zeros((256, 1, 8, 8), np.float32)
    labels = np.zeros(256, np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        duration, queries = (300, 200) if quick else (2000, 5000)
        ctx = SimpleNamespace(
            settings=Settings(
                min_duration_ms=duration, min_query_count=queries, expected_latency_ms=0.02, server_latency_ms=10.0
            ),
            session=NoOp(),
            seed=0,
            node=SimpleNamespace(idle_w=None, max_w=None, threads=1),
            progress=Progress(quiet=True),
        )
        t0 = time.perf_counter()
        r = loadgen.SingleStream().run(ctx, xa, labels, Path(tmp) / "ss")
        wall = time.perf_counter() - t0
        per_query_us = 1e6 / r["loadgen"]["loadgen.samples_per_s"]

        def valid_at(qps: float) -> bool:
            c = SimpleNamespace(
                **{
                    **ctx.__dict__,
                    "settings": Settings(
                        min_duration_ms=duration, min_query_count=queries, server_target_qps=qps, server_latency_ms=10.0
                    ),
                }
            )
            return bool(loadgen.Server().run(c, xa, labels, Path(tmp) / f"s{qps:.0f}")["loadgen"].get("loadgen.valid"))

        peak = loadgen.find_peak(valid_at, 1000.0, valid_at(1000.0), steps=1 if quick else 5)
    _ = wall
    return per_query_us, peak


def repeat_item(times: int = 5) -> list[float]:
    medians = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(times):
            out = Path(tmp) / f"r{i}.json"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "--aibench",
                    str(ROOT / "suites" / "smoke"),
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-k",
                    "onnxruntime-fp32",
                    "--aibench-json",
                    str(out),
                    "--aibench-out",
                    str(Path(tmp) / "o"),
                ],
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
            (item,) = json.loads(out.read_text())["items"]
            medians.append(item["metrics"]["latency"]["p50_ms"] * 1000)
    return medians


TWO_TIMERS = """
import numpy as np, pytest
from pytest_aibench.artifact import resolve
from pytest_aibench.core.model import ModelSpec, Settings
from pytest_aibench.sim.node import Node
from pytest_aibench.registry import RUNNERS

@pytest.fixture(scope="module")
def infer():
    r = RUNNERS.get("onnxruntime")
    s = r.prepare(resolve(ModelSpec("t", "digits", zoo="tinycnn-digits"), "onnxruntime", "fp32", r),
                  Node(threads=1), Settings(threads=1))
    x = s.adapt(np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32))
    return lambda: s.infer(x), x, s

@pytest.mark.parametrize("round", range(3))
def test_pytest_benchmark(benchmark, infer, round):
    benchmark.pedantic(infer[0], rounds=3000, iterations=1, warmup_rounds=100)

@pytest.mark.parametrize("round", range(3))
def test_pytest_aibench(aibench, infer, round):
    aibench(infer[2], latency_samples=3000, warmup=100, eval_samples=64)
"""


def two_timers() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "test_timers.py").write_text(textwrap.dedent(TWO_TIMERS))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "test_timers.py",
                "-q",
                "-p",
                "no:cacheprovider",
                "--benchmark-json",
                "pb.json",
                "--aibench-json",
                "ab.json",
                "--aibench-out",
                "o",
                "-p",
                "no:randomly",
            ],
            cwd=tmp,
            capture_output=True,
            check=True,
        )
        pb = [b["stats"]["median"] * 1e6 for b in json.loads((Path(tmp) / "pb.json").read_text())["benchmarks"]]
        ab = [i["metrics"]["latency"]["p50_ms"] * 1e3 for i in json.loads((Path(tmp) / "ab.json").read_text())["items"]]
    return statistics.median(pb), statistics.median(ab)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-b", action="store_true")
    ap.add_argument("--skip-c", action="store_true")
    ap.add_argument("--quick", action="store_true", help="seconds, not minutes: (a) only, shortly (CI runs it so)")
    args = ap.parse_args()
    if args.quick:
        args.skip_b = args.skip_c = True
    print("(a) per-inference overhead, no-op runner")
    print(f"    built-in timing loop          {builtin_overhead() / 1e3:8.3f} µs per call   (target < 5 µs)")
    lg = loadgen_overhead(args.quick)
    if lg is None:
        print("    LoadGen path                  skipped: mlcommons-loadgen not installed")
    else:
        print(f"    LoadGen single-stream path    {lg[0]:8.1f} µs per query")
        print(f"    LoadGen server, no-op model   {lg[1]:8.0f} QPS highest VALID under a 10 ms p99 bound")
    if not args.skip_b:
        medians = repeat_item()
        cv = statistics.stdev(medians) / statistics.mean(medians)
        print(
            "(b) smoke tinycnn[onnxruntime-fp32] run 5 times, median latency per run (µs): "
            + ", ".join(f"{m:.1f}" for m in medians)
        )
        print(f"    coefficient of variation of the medians: {cv * 100:.2f} %   (target < 3 %)")
    if not args.skip_c:
        pb, ab = two_timers()
        print("(c) tinycnn onnxruntime batch 1, same process, 3 x 3000 calls each, median of medians")
        print(f"    pytest-benchmark {pb:8.2f} µs    pytest-aibench {ab:8.2f} µs    ratio {ab / pb:.3f}")


if __name__ == "__main__":
    main()
