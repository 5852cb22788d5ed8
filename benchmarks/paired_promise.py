"""Does the paired gate keep its promise? A/A false alarms, +3 % and +10 % detections, a 50 ms model's time
to a verdict and an input-dependent (bimodal) model's p50 shift, measured with independent ONNX models
while a CPU-bound neighbour loads the machine.

Models (built here with onnx.helper, seeded, none from the zoo):

- ``chain``: an input [N, 256] through a chain of 256x256 identity MatMuls (30 of them), then 10 scores:
  every extra identity layer adds cost but never changes an answer. ``chain+1`` (31 layers, about +3 %)
  and ``chain+3`` (33 layers, about +10 %) are the candidates.
- ``bimodal``: a light path, or (an ``If`` on the input's mean) a path three times heavier; the reference
  sends 39 % of the inputs to the heavy path, the candidate 60 %: its p50 moves by about 3x while most
  pairs (the same input on both sides) keep a ratio of 1.
- ``slow``: 60 MatMuls of [64, 1024] x [1024, 1024] sharing one weight (about 50 ms a call on one thread
  here); ``slow+6`` has 66 (+10 %).

Each trial is one item measured by ``pytest --aibench`` with ``--aibench-against`` the reference folder and
``--aibench-fail-on latency.p50:+2%`` (the README's rule); several items share one pytest process (each
item prepares its own fresh session pairs). The "true change" beside each kind is measured here by a bare
interleaved loop over fresh ONNX Runtime sessions (no plugin), median over sessions of the p50 ratio.

Usage: python benchmarks/paired_promise.py [--aa 150] [--small 40] [--ten 10] [--slow 5] [--bimodal 6]
       [--no-load] [--keep DIR]; --quick: a couple of trials of each (CI runs it so; figures not asserted)
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RULE = "latency.p50:+2%"


def _save(model, path: Path) -> str:  # noqa: ANN001
    import onnx

    model.ir_version = 8
    onnx.save(model, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def matmul_chain(path: Path, width: int, layers: int, weight: np.ndarray) -> str:
    """``layers`` MatMuls by one shared ``weight`` ([width, width]), then a seeded 10-way head."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(weight.astype(np.float32), "w")
    head = numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.1, (width, 10)).astype(np.float32), "head")
    nodes, prev = [], "x"
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"h{i}"]))
        prev = f"h{i}"
    nodes.append(helper.make_node("MatMul", [prev, "head"], ["y"]))
    g = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])],
        [w, head],
    )
    return _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def chain(path: Path, layers: int) -> str:
    return matmul_chain(path, 256, layers, np.eye(256))


def bimodal(path: Path, threshold: float) -> str:
    """Inputs whose mean exceeds ``threshold`` take the heavy branch (three times the MatMuls)."""
    from onnx import TensorProto, helper, numpy_helper

    eye = numpy_helper.from_array(np.eye(256, dtype=np.float32), "eye")
    head = numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.1, (256, 10)).astype(np.float32), "head")
    thr = numpy_helper.from_array(np.array(threshold, np.float32), "thr")

    def branch(name: str, n: int):  # noqa: ANN202
        nodes, prev = [], "x"
        for i in range(n):
            nodes.append(helper.make_node("MatMul", [prev, "eye"], [f"{name}{i}"]))
            prev = f"{name}{i}"
        nodes.append(helper.make_node("MatMul", [prev, "head"], [f"{name}_y"]))
        return helper.make_graph(
            nodes, name, [], [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [None, 10])]
        )

    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0),
        helper.make_node("Greater", ["m", "thr"], ["heavy"]),
        helper.make_node("If", ["heavy"], ["y"], then_branch=branch("heavyb", 30), else_branch=branch("light", 10)),
    ]
    g = helper.make_graph(
        nodes,
        "bimodal",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])],
        [eye, head, thr],
    )
    return _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def slow(path: Path, layers: int) -> str:
    return matmul_chain(path, 1024, layers, np.eye(1024) * 0.999)


def _data(folder: Path, width: int, n: int, spread: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((n, width), dtype=np.float32)
    if spread:  # bimodal: each input's mean spread evenly over [0, 1], so a threshold picks a share
        x = (x * 0.2 + np.linspace(-0.1, 0.9, n, dtype=np.float32)[:, None]).astype(np.float32)
    np.savez(folder / "data.npz", x=x, y=rng.integers(0, 10, n))


MANIFEST = """\
suite: promise
version: "1"
datasets:
  d: {{source: npz, path: data.npz, eval_fraction: 1.0, params: {{num_classes: 10}}}}
models:
{models}frameworks: [onnxruntime]
settings: {{threads: 1, warmup: 5, latency_samples: 20, batch_size: {batch}, latency_batch: {lbatch}}}
"""


def folder_for(
    root: Path,
    name: str,
    build,
    items: int,
    width: int,
    spread: bool = False,  # noqa: ANN001
    lbatch: int = 1,
) -> Path:
    """A suite of ``items`` copies of one model (each copy is one trial: its own fresh session pairs)."""
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    sha = build(d / "m.onnx")
    _data(d, width, 256 if lbatch == 1 else 640, spread)
    models = "".join(
        f"  t{i:03d}: {{file: m.onnx, sha256: {sha}, input: {{name: x, shape: "
        f"[{'1' if spread else 'null'}, {width}]}}}}\n"
        for i in range(items)
    )
    (d / "suite.yaml").write_text(MANIFEST.format(models=models, batch=1 if spread else 64, lbatch=lbatch))
    return d


def _hog() -> subprocess.Popen[bytes]:
    """A CPU-bound neighbour (it dies with this process)."""

    def start() -> None:
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass

    return subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=start)


def gate(cand: Path, ref: Path, out: Path) -> list[dict]:
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
            RULE,
            "--aibench-json",
            str(out),
            "--aibench-out",
            str(out.parent / "o"),
        ],
        cwd=cand,
        env=env,
        capture_output=True,
        check=False,
    )
    rows = []
    for item in json.loads(out.read_text())["items"] if out.is_file() else []:
        info = (item.get("info") or {}).get("against") or {}
        v = (info.get("verdicts") or [{}])[0]
        rows.append(
            {
                "outcome": v.get("outcome", "none"),
                "ratio": v.get("ratio"),
                "low": v.get("ci_low"),
                "high": v.get("ci_high"),
                "seconds": info.get("seconds"),
                "sessions": info.get("sessions"),
                "pair_ratio": (item.get("metrics") or {}).get("paired", {}).get("pair_ratio"),
                "item_s": item.get("duration_s"),
                "p50_ms": (item.get("metrics") or {}).get("latency", {}).get("p50_ms"),
            }
        )
    return rows


def truth(ref: Path, cand: Path, x: np.ndarray, sessions: int = 6, pairs: int = 300) -> float:
    """The true change: a bare interleaved loop over fresh ONNX Runtime sessions (no plugin), median over
    session pairs of the candidate's p50 over the reference's."""
    import onnxruntime as ort

    def make(path: Path):  # noqa: ANN202
        o = ort.SessionOptions()
        o.intra_op_num_threads = o.inter_op_num_threads = 1
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])

    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(sessions):
        a, b = make(ref / "m.onnx"), make(cand / "m.onnx")
        ta, tb = [], []
        for k in range(pairs + 20):
            pick = int(rng.integers(len(x)))  # inputs drawn over the whole set (a bimodal model's mix)
            xi = {"x": x[pick][None] if x.ndim == 2 else x[pick]}
            first, second = (a, b) if rng.random() < 0.5 else (b, a)
            t0 = time.perf_counter_ns()
            first.run(None, xi)
            t1 = time.perf_counter_ns()
            second.run(None, xi)
            t2 = time.perf_counter_ns()
            if k >= 20:
                (ta if first is a else tb).append(t1 - t0)
                (tb if first is a else ta).append(t2 - t1)
        ratios.append(np.median(tb) / np.median(ta))
    return float(np.median(ratios))


def run(
    kind: str,
    cand: Path,
    ref: Path,
    trials: int,
    per: int,
    keep: Path,
    x: np.ndarray,
    true_pairs: int,
    aa: bool = False,
) -> dict:
    """``trials`` gate runs of ``cand`` against ``ref``; with ``aa`` the models are the same bytes, so the
    true ratio is exactly 1 and the intervals are checked against it."""
    rows: list[dict] = []
    t0 = time.time()
    for k in range(-(-trials // per)):
        rows += gate(cand, ref, keep / f"{''.join(c if c.isalnum() else '_' for c in kind)}-{k}.json")
    rows = rows[:trials]
    change = truth(ref, cand, x, pairs=true_pairs) - 1
    count = {o: sum(r["outcome"] == o for r in rows) for o in ("REGRESSED", "SAME", "UNKNOWN")}
    covered = sum(r["low"] is not None and r["low"] <= 1.0 <= r["high"] for r in rows) if aa else None
    secs = sorted(r["seconds"] for r in rows if r["seconds"] is not None)
    items = sorted(r["item_s"] for r in rows if r["item_s"] is not None)
    p50 = sorted(r["p50_ms"] for r in rows if r["p50_ms"] is not None)
    out = {
        "kind": kind,
        "true_change": change,
        "n": len(rows),
        **count,
        "interval_covers_truth": covered,
        "median_s": secs[len(secs) // 2] if secs else None,
        "max_s": secs[-1] if secs else None,
        "item_median_s": items[len(items) // 2] if items else None,
        "p50_ms": p50[len(p50) // 2] if p50 else None,
        "wall_s": time.time() - t0,
        "rows": rows,
    }
    print(
        f"{kind:<10} true {change:+.1%}  n={len(rows):<4} REGRESSED {count['REGRESSED']:<4} SAME {count['SAME']:<4} "
        f"UNKNOWN {count['UNKNOWN']:<4}{f' interval covers 1.0 in {covered}/{len(rows)}' if aa else ''}  median "
        f"{out['median_s'] or 0:.1f} s, max {out['max_s'] or 0:.1f} s of pairing to a verdict (whole item, sessions "
        f"prepared and warmed: median {out['item_median_s'] or 0:.1f} s; a call {out['p50_ms'] or 0:.3g} ms)",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--aa", type=int, default=150)
    ap.add_argument("--small", type=int, default=40)
    ap.add_argument("--ten", type=int, default=10)
    ap.add_argument("--slow", type=int, default=5)
    ap.add_argument("--bimodal", type=int, default=6)
    ap.add_argument("--no-load", action="store_true", help="no CPU-bound neighbour")
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.aa, args.small, args.ten, args.slow, args.bimodal = 2, 1, 1, 0, 1
    keep = args.keep or Path(tempfile.mkdtemp(prefix="paired-promise-"))
    keep.mkdir(parents=True, exist_ok=True)
    per = 2 if args.quick else 10
    true_pairs = 60 if args.quick else 300
    ref = folder_for(keep, "chain", lambda p: chain(p, 30), per, 256)
    aa = folder_for(keep, "chain-aa", lambda p: chain(p, 30), per, 256)
    small = folder_for(keep, "chain+1", lambda p: chain(p, 31), per, 256)
    ten = folder_for(keep, "chain+3", lambda p: chain(p, 33), per, 256)
    bref = folder_for(keep, "bimodal", lambda p: bimodal(p, 0.61), per, 256, spread=True)
    bcand = folder_for(keep, "bimodal-60", lambda p: bimodal(p, 0.40), per, 256, spread=True)
    sref = folder_for(keep, "slow", lambda p: slow(p, 60), 1, 1024, lbatch=64)
    scand = folder_for(keep, "slow+6", lambda p: slow(p, 66), 1, 1024, lbatch=64)
    x = np.load(ref / "data.npz")["x"]
    xb = np.load(bref / "data.npz")["x"]
    xs = np.load(sref / "data.npz")["x"].reshape(10, 64, 1024)
    hog = None if args.no_load else _hog()
    print(
        f"paired gate, rule {RULE}, {'with a CPU-bound neighbour' if hog else 'no neighbour'}; CPU "
        f"{os.cpu_count()} cores; kept in {keep}",
        flush=True,
    )
    results = []
    try:
        for kind, cand, base, trials, data, each, aa_ in (
            ("A/A", aa, ref, args.aa, x, per, True),
            ("+3 %", small, ref, args.small, x, per, False),
            ("+10 %", ten, ref, args.ten, x, per, False),
            ("bimodal", bcand, bref, args.bimodal, xb, per, False),
            ("50 ms +10 %", scand, sref, args.slow, xs, 1, False),
        ):
            if trials:
                results.append(run(kind, cand, base, trials, each, keep, data, 20 if each == 1 else true_pairs, aa_))
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    (keep / "summary.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
