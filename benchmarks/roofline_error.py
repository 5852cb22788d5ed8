"""The device model's own error on this host: FLOPs-only against roofline, per model, medians printed.

For each model (the compact zoo at 32 px and, without --quick, the six published-size networks at their
published input, built on first use into the cache), on ONNX Runtime fp32 with 2 threads: the median
latency (5th percentile, as the calibration and the `host` node take it) of batch-1 calls, each followed by
the probe (as the `host` node measures it), the roofline's prediction, and FLOPs / calibrated GEMM peak. A second pass
repeats the whole set so the spread of each error is visible; quote medians.

Usage: python benchmarks/roofline_error.py [--quick] [--repeats N] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from pytest_aibench.sim import roofline

COMPACT = ("tinycnn-digits", "squeezenet-shapes", "mobilenetv2-shapes", "resnet-shapes")
PUBLISHED = ("resnet50", "inceptionv3", "densenet121", "squeezenet1_0", "mobilenetv2_1_0", "mnasnet1_0")


def _model(name: str) -> tuple[str, tuple[int, ...]]:
    if name in PUBLISHED:
        from pytest_aibench.builder import cache

        folder = cache.ensure(name)
        side = int(cache.lock()["models"][name]["side"])
        return str(folder / "model.onnx"), (3, side, side)
    from pytest_aibench.zoo.cards import find_card

    card = find_card(name)
    path = card.folder / card.artifacts["onnxruntime/fp32"]["file"]
    return str(path), ((1, 8, 8) if name.startswith("tinycnn") else (3, 32, 32))


def measure(name: str, threads: int, calls: int) -> tuple[float, float, float]:
    """(measured ms, roofline error %, FLOPs-only error %) of one model, measured beside the probe."""
    import onnxruntime as ort

    path, sample = _model(name)
    cal = roofline.calibrate(threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: np.random.default_rng(0).random((1, *sample), dtype=np.float32)}
    probe = roofline.Probe(threads)
    for _ in range(3):
        sess.run(None, feed)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
        probe()
    measured = roofline.low(times)  # the low quantile the calibration and the host node use
    work = roofline.count(path, sample)
    roof = roofline.predict_s(
        work, cal.peak_gflops, cal.bandwidth_gbs, cal.efficiency, cal.overhead_s, "fp32", cal.call_s
    )
    flops = roofline.flops_only_s(work, cal.peak_gflops)
    return measured * 1e3, (roof / measured - 1) * 100, (flops / measured - 1) * 100


def stability(runs: int, busy: bool) -> None:
    """One `host` item of suites/devices run ``runs`` times in fresh pytest processes (each calibrating
    anew), with a busy neighbour process spinning on a core the whole time: the spread of its sim.error_pct."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    errors, flops = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(runs):
                out = Path(tmp) / f"r{i}.json"
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        "--aibench",
                        "suites/devices",
                        "-k",
                        "squeezenet and fp32 and host",
                        "--aibench-json",
                        str(out),
                    ],
                    check=True,
                    capture_output=True,
                )
                (item,) = json.loads(out.read_text())["items"]
                errors.append(item["metrics"]["sim"]["error_pct"])
                flops.append(item["metrics"]["sim"]["flops_only_error_pct"])
    finally:
        if spinner is not None:
            spinner.kill()
    print(
        f"sim.error_pct over {runs} runs{' beside a busy neighbour' if busy else ''}: "
        + " ".join(f"{e:+.0f}" for e in errors)
        + f"; range {max(errors) - min(errors):.1f} points "
        f"(FLOPs-only: {min(flops):+.0f}..{max(flops):+.0f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="the compact models only, one pass")
    ap.add_argument(
        "--stability",
        type=int,
        default=0,
        metavar="RUNS",
        help="also run the devices suite's squeezenet host item RUNS times beside a busy neighbour",
    )
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    names = COMPACT if args.quick else (*COMPACT, *PUBLISHED)
    repeats = 1 if args.quick else args.repeats
    cal = roofline.calibrate(args.threads)
    print(
        f"calibration: GEMM peak {cal.peak_gflops:.0f} GFLOP/s, bandwidth {cal.bandwidth_gbs:.1f} GB/s, "
        f"call {cal.call_s * 1e6:.1f} µs, per operator {cal.overhead_s * 1e6:.2f} µs ({args.threads} threads)"
    )
    got: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    for _ in range(repeats):
        for n in names:
            got[n].append(measure(n, args.threads, 30 if n in PUBLISHED else 200))
    print(f"{'model':22s} {'p5 ms':>12s} {'roofline err %':>15s} {'FLOPs-only err %':>17s}")
    for n in names:
        ms = statistics.median(g[0] for g in got[n])
        r = [g[1] for g in got[n]]
        f = [g[2] for g in got[n]]
        print(
            f"{n:22s} {ms:12.3f} {statistics.median(r):+15.0f} {statistics.median(f):+17.0f}"
            + (f"   (roofline {min(r):+.0f}..{max(r):+.0f})" if len(r) > 1 else "")
        )
    for group, members in (("compact", COMPACT), ("published", PUBLISHED)):
        members = tuple(m for m in members if m in names)
        if members:
            r = statistics.median(abs(statistics.median(g[1] for g in got[m])) for m in members)
            f = statistics.median(abs(statistics.median(g[2] for g in got[m])) for m in members)
            print(f"median |error| {group}: roofline {r:.0f} %, FLOPs-only {f:.0f} %")
    if args.stability:
        stability(args.stability, busy=True)


if __name__ == "__main__":
    main()
