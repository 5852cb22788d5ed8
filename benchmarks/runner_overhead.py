"""Runner overhead: each runner's median batch-1 latency (the call the latency loop times) against a bare
timing loop over the same runtime and model file in the same process (target ratio <= 1.01).

For every runtime and the tinycnn model's fp32 and int8 files, the runner prepares the model once; the
bare loop calls the runtime's own API on that very object (the same torch module, ORT session, LiteRT
interpreter), the runner's side the call the latency loop times. Rounds
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
from pytest_aibench.runtimes import missing, timed
from pytest_aibench.sim.node import Node
from pytest_aibench.zoo.cards import find_card


def bare_call(framework: str, session: Any, example: np.ndarray) -> Callable[[np.ndarray], Any]:
    """The runtime's own call on the very object the session prepared (the same torch module, ORT
    session or LiteRT interpreter), with nothing around it: two separately loaded copies of one model
    differ in speed by a few percent (memory placement), more than the harness costs, so comparing
    across copies would measure the copies."""
    if framework == "onnxruntime":
        sess, name = session._sess, session.options["input"]  # noqa: SLF001
        return lambda x: sess.run(None, {name: x})[0]
    if framework == "litert":
        session.infer(example)  # the interpreter for this shape exists from here on
        it = session._by_shape[example.shape]  # noqa: SLF001
        i, o = session._in_index, session._out_index  # noqa: SLF001

        def run(x: np.ndarray) -> Any:
            it.set_tensor(i, x)
            it.invoke()
            return it.get_tensor(o)

        return run
    if framework == "torch":
        import torch

        model = session.module

        def run_torch(x: np.ndarray) -> Any:
            with torch.inference_mode():
                return model(torch.from_numpy(x))

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
    print(f"{'runtime':<20}{'runner µs':>11}{'bare µs':>10}{'ratio':>8}   target <= 1.01")
    for framework, quantization in [(f, q) for f in ("torch", "onnxruntime", "litert") for q in ("fp32", "int8")]:
        runner = RUNNERS.get(framework)
        name = f"{framework} {quantization}"
        if missing(runner):
            print(f"{name:<20}skipped: {missing(runner)}")
            continue
        artifact = resolve(spec, framework, quantization, runner)
        session = runner.prepare(artifact, Node(threads=args.threads), Settings(threads=args.threads))
        xa = session.adapt(data.x_eval)
        inputs = [np.ascontiguousarray(xa[i : i + 1]) for i in range(64)]
        bare = bare_call(framework, session, inputs[0])
        call = timed(session, inputs[0])  # what the latency loop times
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(statistics.median(time_calls(call, inputs, 20, args.calls)))
            theirs.append(statistics.median(time_calls(bare, inputs, 20, args.calls)))
        a, b = statistics.median(ours) / 1e3, statistics.median(theirs) / 1e3
        print(f"{name:<20}{a:>11.1f}{b:>10.1f}{a / b:>8.3f}   {'met' if a / b <= 1.01 else 'NOT met'}")
        session.close()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
