"""The accelerator check, for a machine with a GPU: the smoke suite and the published ResNet50 on torch
CUDA and ONNX Runtime's CUDA provider, with the harness-vs-bare-loop ratio and the paired gate's A/A ratio
measured on the GPU.

(a) `pytest --aibench` on the smoke suite with `device: cuda` (torch and onnxruntime, fp32): every item
    must pass on the GPU and record its device name, and NVML's utilisation, memory and driver version.
(b) ResNet50 (published size, batch 1) on each runtime's CUDA path: the runner's timed call (what items
    measure: input copied in, output copied back, which waits for the GPU) against a bare loop of the
    runtime's own call doing the same copies, interleaved in rounds in one process; median ratio.
(c) The paired gate A/A on the GPU: the smoke suite saved, then run `--aibench-against` itself; the
    latency ratios' intervals must hold 1.

Without a GPU (torch sees no CUDA device and ONNX Runtime has no CUDA provider) it says so and exits 0:
CI runs every benchmark script with --quick on CPU-only machines. On the GPU machine install a CUDA
build of torch and onnxruntime-gpu beside the project (the project's own pins are the CPU builds).

Usage: python benchmarks/accelerator_check.py [--quick] [--rounds 15] [--calls 100]
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
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def gpus() -> dict[str, str]:
    """Each runtime that can reach a CUDA device here, with what it sees; empty on a CPU-only machine."""
    found = {}
    try:
        import torch

        if torch.cuda.is_available():
            found["torch"] = f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    except ImportError:
        pass
    try:
        import onnxruntime as ort

        if "CUDAExecutionProvider" in ort.get_available_providers():
            found["onnxruntime"] = f"CUDAExecutionProvider (onnxruntime {ort.__version__})"
    except ImportError:
        pass
    return found


def smoke(frameworks: list[str], work: Path, *extra: str) -> dict[str, Any]:
    """(a)/(c): the smoke suite on the GPU; the run JSON."""
    data = yaml.safe_load((ROOT / "suites/smoke/suite.yaml").read_text())
    data.pop("matrix", None)
    data.update(frameworks=frameworks, quantizations=["fp32"])
    data["settings"] = {**(data.get("settings") or {}), "device": "cuda"}
    (work / "suite.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    out = work / f"run{len(list(work.glob('run*.json')))}.json"
    cmd = [sys.executable, "-m", "pytest", "--aibench", "suite.yaml", "-q", "-p", "no:cacheprovider", "-rs"]
    proc = subprocess.run([*cmd, "--aibench-json", str(out), *extra], cwd=work, capture_output=True, text=True)
    print("\n".join(proc.stdout.strip().splitlines()[-12:]))
    return json.loads(out.read_text())


def _bare(framework: str, session: Any) -> Any:
    """The runtime's own call on the same model and device, with the same copies the runner makes."""
    if framework == "torch":
        import torch

        module, device = session.module, session.options["device"]

        def call(x: np.ndarray) -> Any:
            with torch.inference_mode():
                return module(torch.from_numpy(x).to(device)).float().cpu().numpy()

        return call
    run, name = session._sess.run, session.options["input"]
    return lambda x: run(None, {name: x})[0]


def overhead(framework: str, rounds: int, calls: int) -> float:
    """(b): median over rounds of (runner's median / bare loop's median), interleaved."""
    from pytest_aibench.artifact import resolve
    from pytest_aibench.core.model import ModelSpec, Settings
    from pytest_aibench.measure.timing import time_calls
    from pytest_aibench.runtimes import RUNNERS
    from pytest_aibench.sim.node import Node

    runner = RUNNERS.get(framework)
    artifact = resolve(ModelSpec(name="resnet50", dataset="", zoo="resnet50"), framework, "fp32", runner)
    session = runner.prepare(artifact, Node(), Settings(device="cuda"))
    inputs = [np.random.default_rng(i).random((1, 3, 224, 224), dtype=np.float32) for i in range(8)]
    bare = _bare(framework, session)
    for x in inputs * 3:  # warm both paths: cuDNN autotuning, allocator
        session.infer(x)
        bare(x)
    ratios = []
    for _ in range(rounds):
        harness = statistics.median(time_calls(session.infer, inputs, 0, calls))
        times = []
        for i in range(calls):
            t0 = time.perf_counter_ns()
            bare(inputs[i % len(inputs)])
            times.append(time.perf_counter_ns() - t0)
        ratios.append(harness / statistics.median(times))
    session.close()
    return statistics.median(ratios)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (CI runs it so on CPU-only machines)")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=100)
    args = ap.parse_args()
    found = gpus()
    if not found:
        print(
            "accelerator check: no CUDA device here (torch sees none; onnxruntime has no CUDA provider): nothing measured"
        )
        return 0
    rounds, calls = (3, 20) if args.quick else (args.rounds, args.calls)
    for name, what in found.items():
        print(f"{name}: {what}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = smoke(sorted(found), work)
        for item in run["items"]:
            m, nvml = item.get("metrics", {}), item.get("info", {}).get("accelerator", {})
            print(
                f"(a) {item['id']}: {item['outcome']} on {item.get('runner', {}).get('device_name', '?')}; "
                f"NVML: util {m.get('accelerator.util_pct')} % (max {m.get('accelerator.util_max_pct')}), "
                f"memory {m.get('accelerator.memory_used_mb')} MiB, {nvml}"
            )
        smoke(sorted(found), work, "--aibench-save", "aa")
        paired = smoke(sorted(found), work, "--aibench-against", "aa")
        for item in paired["items"]:
            for v in (item.get("info", {}).get("against") or {}).get("verdicts", []):
                print(
                    f"(c) A/A {item['id']} {v['rule']}: {v['outcome']} ratio {v['ratio']} [{v['ci_low']}, {v['ci_high']}]"
                )
    for framework in sorted(found):
        print(f"(b) ResNet50 {framework} CUDA batch 1, harness / bare loop: {overhead(framework, rounds, calls):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
