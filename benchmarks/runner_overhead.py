"""Runner overhead: each runner's median batch-1 latency against a bare timing loop over the same
runtime and model in the same process (target ratio <= 1.03).

For every runtime, the same model file is opened twice with the same settings: once through the
project's runner (what items measure) and once through the runtime's own API in a bare loop. Rounds
alternate runner / bare so a burst of machine noise hits both; each round's median is kept and the
table reports the median of those medians and the ratio runner / bare.

Usage: python benchmarks/runner_overhead.py [--model tinycnn-digits] [--rounds 15] [--calls 300]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from pytest_aibench.artifact import resolve
from pytest_aibench.core.model import DatasetSpec, ModelSpec, Settings
from pytest_aibench.data import materialize
from pytest_aibench.measure.timing import time_calls
from pytest_aibench.registry import RUNNERS
from pytest_aibench.runtimes import missing
from pytest_aibench.sim.node import Node
from pytest_aibench.zoo.cards import find_card


def bare_call(framework: str, artifact: Any, threads: int, shape: tuple[int, ...]) -> Callable[[np.ndarray], Any]:
    """The runtime's own API, configured as the runner configures it, with nothing around it."""
    path = str(artifact.path)
    if framework == "onnxruntime":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda x: sess.run(None, {name: x})[0]
    if framework == "litert":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=path, num_threads=threads)
        i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
        it.resize_tensor_input(i, list(shape))  # dynamic batch/resolution: fix the shape once
        it.allocate_tensors()

        def run(x: np.ndarray) -> Any:
            it.set_tensor(i, x)
            it.invoke()
            return it.get_tensor(o)

        return run
    if framework == "torch":
        import torch

        from pytest_aibench.zoo import build_module

        torch.set_num_threads(threads)
        model = build_module(artifact.family, artifact.config)
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()

        def run_torch(x: np.ndarray) -> Any:
            with torch.inference_mode():
                return model(torch.from_numpy(x)).numpy()

        return run_torch
    raise ValueError(framework)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tinycnn-digits")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="2 rounds of 50 calls (CI runs it so)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.calls = 2, 50
    card = find_card(args.model)
    d = card.dataset
    data = materialize(
        DatasetSpec(
            name=d["source"],
            source=d["source"],
            eval_fraction=d.get("eval_fraction", 0.25),
            split_seed=d.get("split_seed", 0),
            params=d.get("params", {}),
        )
    )
    spec = ModelSpec(name=args.model, dataset=d["source"], zoo=args.model)
    print(
        f"model {args.model}, batch 1, {args.threads} thread(s), {args.rounds} alternating rounds of "
        f"{args.calls} calls; medians in microseconds"
    )
    print(f"{'runtime':<13}{'runner µs':>11}{'bare µs':>10}{'ratio':>8}   target <= 1.03")
    for framework in ("torch", "onnxruntime", "litert"):
        runner = RUNNERS.get(framework)
        if missing(runner):
            print(f"{framework:<13}skipped: {missing(runner)}")
            continue
        artifact = resolve(spec, framework, "fp32", runner)
        session = runner.prepare(artifact, Node(threads=args.threads), Settings(threads=args.threads))
        xa = session.adapt(data.x_eval)
        inputs = [np.ascontiguousarray(xa[i : i + 1]) for i in range(64)]
        bare = bare_call(framework, artifact, args.threads, inputs[0].shape)
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(statistics.median(time_calls(session.infer, inputs, 20, args.calls)))
            theirs.append(statistics.median(time_calls(bare, inputs, 20, args.calls)))
        a, b = statistics.median(ours) / 1e3, statistics.median(theirs) / 1e3
        print(f"{framework:<13}{a:>11.1f}{b:>10.1f}{a / b:>8.3f}   {'met' if a / b <= 1.03 else 'NOT met'}")
        session.close()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
