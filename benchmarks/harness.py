"""A harness that disappears: the figures of "Performance of the plugin itself", measured side by side.

(a) item p50 / bare loop: the smoke suite at 1 thread (ONNX Runtime, LiteRT fp32 and int8, torch int8), run
    in this process by pytest.main; around each item's call a plugin times a bare loop of the same file on
    the same runtime (the runtime's own API, one input), before and after; ratio = the p50 the item wrote
    / the mean of the two bare medians. Median over repeats of the whole run. Two loaded copies of one
    model differ by more than the harness costs (memory placement), so a second ratio divides the same
    p50 by a bare loop on the item's very session object (the same ORT session, LiteRT interpreter or
    torch module), timed as the item closes it, right after its timed calls. Both move with this VM's drift
    (the same bare loop's medians a second apart differ by up to 2x), so then the item level paired: a
    bare call on the item's own session interleaved between every two of its timed calls (the item's loop,
    statistics and JSON untouched), the p50 it wrote / the median of those calls; an A/A control (the
    item's own call interleaved) measures what the two places in the loop are worth, and is divided out.
    ``--model resnet50`` pairs a published model's items the same way.
(b) unused plugin: a one-test session with the plugin installed but no --aibench against -p no:aibench,
    alternated; medians of CPU-time and peak-RSS ratios.
(c) adaptive sampling: one ONNX Runtime item with latency_ci 0.5 %: wall time of its timed calls and the
    calls used, beside pytest-benchmark's default run of the same session.run (its wall time, rounds).
(d) statistics: CPU of summarising 20,000 samples (robustness, percentiles) against the CPU the calls took.
(e) suites/smoke and suites/aiot quick: wall time of the session, beside a bare-loop estimate of the same
    work from its own figures (each item's timed calls, warm-up and accuracy pass at its measured speed),
    so a busy machine shows up as such, not as our cost.

Usage: python benchmarks/harness.py [--quick] [--repeats 3] [--model resnet50]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "fixtures/models/tinycnn-digits"


def _bare(nodeid: str) -> Any:
    """The runtime's own call on the item's file, one random input, 1 thread (None: not paired)."""
    q = "int8" if "int8" in nodeid and "dynamic" not in nodeid else "fp32" if "fp32" in nodeid else None
    if "onnxruntime" in nodeid and q:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(MODEL / f"model{'' if q == 'fp32' else '.int8'}.onnx"), so)
        inp = sess.get_inputs()[0]
        x = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
        return lambda: sess.run(None, {inp.name: x})
    if "litert" in nodeid and q:
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(MODEL / f"model{'' if q == 'fp32' else '.int8'}.tflite"), num_threads=1)
        d = it.get_input_details()[0]
        it.resize_tensor_input(d["index"], [1, *list(d["shape_signature"])[1:]])
        it.allocate_tensors()
        x = np.random.default_rng(0).random(tuple(it.get_input_details()[0]["shape"])).astype(d["dtype"])
        o = it.get_output_details()[0]["index"]

        def call() -> Any:
            it.set_tensor(d["index"], x)
            it.invoke()
            return it.get_tensor(o)

        return call
    if "torch" in nodeid and q == "int8":
        import torch

        torch.set_num_threads(1)
        m = torch.export.load(str(MODEL / "model.int8.pt2")).module()
        x = torch.from_numpy(np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32))

        def run() -> Any:
            with torch.inference_mode():
                return m(x)

        return run
    return None


def _median_call(fn: Any, n: int) -> float:
    for _ in range(50):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        ts.append(time.perf_counter_ns() - t)
    return statistics.median(ts) / 1e6


class Probe:
    """Times the bare loop around each item's call (this process, the item's file and runtime), and on the
    item's own session as the item closes it."""

    def __init__(self, calls: int):
        self.calls, self.bare, self.same = calls, {}, {}
        self._item: str | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: Any) -> Any:
        fn = _bare(item.nodeid)
        before = _median_call(fn, self.calls) if fn else None
        self._item = item.nodeid.split("::")[-1] if fn else None
        try:
            out = yield
        finally:
            self._item = None
        if fn:
            self.bare[item.nodeid.split("::")[-1]] = (before + _median_call(fn, self.calls)) / 2
        return out

    def closing(self, framework: str, session: Any) -> None:
        """The item's session, about to be closed: its bare call, timed now (the loop the item used)."""
        if self._item is None or self._item in self.same:
            return
        from runner_overhead import bare_call

        from pytest_aibench.measure.timing import time_calls

        x = np.ascontiguousarray(session.adapt(np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)))
        fn = bare_call(framework, session, x)
        self.same[self._item] = statistics.median(time_calls(fn, [x], 50, self.calls)) / 1e6


@contextmanager
def closes_watched(probe: Probe) -> Iterator[None]:
    """Each runtime's session class reports to ``probe`` before it closes (a benchmark's patch, undone after)."""
    from pytest_aibench.runtimes.litert_runner import LiteRTSession
    from pytest_aibench.runtimes.ort_runner import OrtSession
    from pytest_aibench.runtimes.torch_runner import TorchSession

    saved = []
    for framework, cls in (("onnxruntime", OrtSession), ("litert", LiteRTSession), ("torch", TorchSession)):
        original = cls.close

        def close(self: Any, _original: Any = original, _framework: str = framework) -> None:
            probe.closing(_framework, self)
            _original(self)

        saved.append((cls, original))
        cls.close = close  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, original in saved:
            cls.close = original  # type: ignore[method-assign]


def _item_p50s(work: Path, suite: Path, out: Path, select: str, plugin: Any, extra: list[str]) -> dict[str, float]:
    """Run ``suite``'s items that ``select`` picks in this process, ``plugin`` beside them: {item: p50 ms}."""
    args = ["--aibench", str(suite), "-q", "-p", "no:cacheprovider", "--aibench-json", str(out)]
    pytest.main([*args, "-k", select, "--aibench-out", str(work / "o"), *extra], plugins=[plugin])
    p50s = {}
    for item in json.loads(out.read_text())["items"]:
        p50 = (item["metrics"].get("latency") or {}).get("p50_ms")
        if p50:
            p50s[item["id"].split("::")[-1]] = p50
    return p50s


def items_vs_bare(work: Path, repeats: int, calls: int) -> None:
    data = yaml.safe_load((ROOT / "suites/smoke/suite.yaml").read_text())
    data["frameworks"] = ["onnxruntime", "litert", "torch"]
    data["settings"] = {**(data.get("settings") or {}), "threads": 1}
    (work / "suite.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    ratios: dict[str, list[float]] = {}
    same: dict[str, list[float]] = {}
    for r in range(repeats):
        probe = Probe(calls)
        select = "onnxruntime or litert or (torch and int8 and not dynamic)"
        with closes_watched(probe):
            p50s = _item_p50s(work, work / "suite.yaml", work / f"run{r}.json", select, probe, [])
        for name, p50 in p50s.items():
            if name in probe.bare:
                ratios.setdefault(name, []).append(p50 / probe.bare[name])
            if name in probe.same:
                same.setdefault(name, []).append(p50 / probe.same[name])
    print("(a) item p50 / bare loop, 1 thread, smoke models (median over runs); the first ratio against a")
    print("    second loaded copy timed before and after the item, the second against the item's own session:")
    for name, rs in sorted(ratios.items()):
        own = same.get(name) or []
        print(
            f"    {name}: {statistics.median(rs):.3f} ({', '.join(f'{v:.3f}' for v in rs)}); own session "
            f"{statistics.median(own) if own else float('nan'):.3f} ({', '.join(f'{v:.3f}' for v in own)})"
        )


class Interleaved(Sequence[np.ndarray]):
    """The item's inputs, with one bare call on the item's own session timed each time the item's loop fetches
    its next input (outside the item's clock reads): bare, item, bare, item ..., so each side always runs
    right after the other, at the same moment of the machine's drift. The first call on an input pays to
    bring it into cache (1-2 % of a tinycnn call), so the bare call alternates between the item's next input
    (bare first) and the one the item just used (item first): each side is first on half of the inputs."""

    def __init__(self, inputs: Sequence[np.ndarray], bare: Any, sink: list[int]):
        self._inputs, self._bare, self._sink = inputs, bare, sink
        self._last: Any = None

    def __len__(self) -> int:
        return len(self._inputs)

    def __getitem__(self, k: Any) -> Any:
        x = self._inputs[k]
        y = x if self._last is None or len(self._sink) % 2 == 0 else self._last
        clock = time.perf_counter_ns
        t0 = clock()
        self._bare(y)
        self._sink.append(clock() - t0)
        self._last = x
        return x


class Pairer:
    """Interleaves a bare call with every timed call of each item (the item's own code path, loop and
    statistics untouched): the single paradigm's ``timed`` and ``time_calls`` are wrapped, while this
    benchmark runs only, to learn each round's session and hand the loop :class:`Interleaved` inputs."""

    def __init__(self, control: bool = False) -> None:
        self.control = control  # interleave the item's own call instead: what the pairing itself favours
        self.bare: dict[str, list[int]] = {}
        self._item: str | None = None
        self._framework = ""
        self._call: Any = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: Any) -> Any:
        name = item.nodeid.split("::")[-1]
        self._framework = next((f for f in ("onnxruntime", "litert", "torch") if f"[{f}-" in name), "")
        self._item = name if self._framework else None
        try:
            return (yield)
        finally:
            self._item, self._call = None, None

    @contextmanager
    def wrapping(self) -> Iterator[None]:
        from runner_overhead import bare_call

        from pytest_aibench.paradigms import single

        timed, time_calls = single.timed, single.time_calls

        def bound(session: Any, example: Any = None) -> Any:
            if self._item is not None and example is not None:
                self._call = timed(session, example) if self.control else bare_call(self._framework, session, example)
            return timed(session, example)

        def paired(fn: Any, inputs: Any, warmup: int, samples: int, collect: bool = True) -> list[int]:
            if self._item is None or self._call is None or collect:
                return time_calls(fn, inputs, warmup, samples, collect)
            sink: list[int] = []
            got = time_calls(fn, Interleaved(inputs, self._call, sink), warmup, samples, collect)
            self.bare.setdefault(self._item, []).extend(sink[warmup:])  # the item's warm-up calls are not samples
            return got

        single.timed, single.time_calls = bound, paired  # type: ignore[assignment]
        try:
            yield
        finally:
            single.timed, single.time_calls = timed, time_calls  # type: ignore[assignment]


def items_paired(work: Path, repeats: int, suite: Path, control: bool = True, profile: str | None = None) -> None:
    """(a) at the item level, paired: the p50 each item wrote / the median of the bare calls interleaved
    one by one with its timed calls, on its own sessions (every round's). A control run interleaves the
    item's own call instead (A/A): the loop's call and the interleaved one sit in different places, worth
    ~0.5-1 % of a 30 µs call (~200 ns), and that is divided out; on a 40 ms call it is noise, not run."""
    ratios: dict[str, dict[bool, list[float]]] = {}
    for r in range(repeats):
        for aa in (False, True) if control else (False,):
            pairer = Pairer(aa)
            select, extra = (
                "(onnxruntime or litert or torch) and not dynamic",
                ["--aibench-profile", profile] if profile else [],
            )
            with pairer.wrapping():
                p50s = _item_p50s(work, suite, work / f"paired{r}{aa}.json", select, pairer, extra)
            for name, p50 in p50s.items():
                if bare := pairer.bare.get(name):
                    ratios.setdefault(name, {}).setdefault(aa, []).append(p50 * 1e6 / statistics.median(bare))
    print("    paired at the item level: the p50 the item wrote / the median of bare calls on its own session, one")
    print(
        "    between every two of its timed calls"
        + ("; A/A: the item's own call there instead; their quotient:" if control else ":")
    )
    for name, by in sorted(ratios.items()):
        ab, listed = statistics.median(by.get(False) or [math.nan]), ", ".join(f"{v:.3f}" for v in by.get(False) or [])
        if control:
            aa = statistics.median(by.get(True) or [math.nan])
            print(f"    {name}: {ab:.3f} ({listed}); A/A {aa:.3f}; harness / bare {ab / aa:.3f}")
        else:
            print(f"    {name}: harness / bare {ab:.3f} ({listed})")


PUBLISHED = """suite: published
version: "1.0"
datasets:
  shapes224: {source: shapes, split_seed: 0, eval_fraction: 0.5, params: {samples: 16, size: 224, classes: 10, num_classes: 1000, seed: 1}}
models:
  MODEL: {zoo: MODEL, dataset: shapes224}
frameworks: [onnxruntime, litert, torch]
quantizations: [fp32, int8]
settings: {threads: 1, batch_size: 8, warmup: 5, latency_samples: 150, latency_rounds: 3}
"""


def published_paired(work: Path, repeats: int, model: str) -> None:
    """(a) paired at the item level on a published model (built into the cache on first use)."""
    (work / "published.yaml").write_text(PUBLISHED.replace("MODEL", model))
    print(f"(a) {model}, 1 thread, 150 timed calls in 3 rounds per item:")
    items_paired(work, repeats, work / "published.yaml", control=False)


def unused_plugin(work: Path, repeats: int) -> None:
    (work / "test_one.py").write_text("def test_one():\n    assert True\n")
    cmd = [sys.executable, "-m", "pytest", "test_one.py", "-q", "-p", "no:cacheprovider"]

    def run(extra: list[str]) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([*cmd, *extra], cwd=work, capture_output=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return cpu, float(after.ru_maxrss)  # maxrss of children: the largest so far, so compare pairs by CPU

    cpu, rss = [], []
    for _ in range(repeats):
        a, _ = run([])
        b, _ = run(["-p", "no:aibench"])
        cpu.append(a / b)
    for flag in ([], ["-p", "no:aibench"]):  # peak RSS, each in its own /usr/bin/time-free measurement
        probe = [sys.executable, "-c", "import resource,subprocess,sys; subprocess.run(sys.argv[1:],capture_output=True);"
                 " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)", *cmd, *flag]  # fmt: skip
        rss.append(float(subprocess.run(probe, cwd=work, capture_output=True, text=True).stdout.strip() or "nan"))
    print(
        f"(b) unused plugin / -p no:aibench, one-test session: CPU {statistics.median(cpu):.3f} "
        f"({', '.join(f'{v:.2f}' for v in cpu)}), peak RSS {rss[0] / rss[1]:.3f}"
    )


def adaptive(work: Path, target: str) -> None:
    text = (
        f'suite: ada\nversion: "1.0"\ndatasets:\n  digits: {{source: digits}}\nmodels:\n  t: {{zoo: tinycnn-digits}}\n'
        f'frameworks: [onnxruntime]\nquantizations: [fp32]\nsettings: {{latency_ci: "{target}", warmup: 100}}\n'
    )
    (work / "ada.yaml").write_text(text)
    out = work / "ada.json"
    args = ["--aibench", str(work / "ada.yaml"), "-q", "-p", "no:cacheprovider", "--aibench-json", str(out)]
    pytest.main([*args, "--aibench-out", str(work / "o")])
    item = json.loads(out.read_text())["items"][0]
    lat = item["metrics"]["latency"]
    spent = sum(r["seconds"] for r in item["info"]["adaptive"]["rounds"])
    start = time.perf_counter()
    (work / "test_pb.py").write_text(
        "import numpy as np, onnxruntime as ort\n"
        f"s = ort.InferenceSession({str(MODEL / 'model.onnx')!r})\n"
        "x = {s.get_inputs()[0].name: np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)}\n"
        "def test_pb(benchmark):\n    benchmark(s.run, None, x)\n"
    )
    pb_json = work / "pb.json"
    pytest.main([str(work / "test_pb.py"), "-q", "-p", "no:cacheprovider", f"--benchmark-json={pb_json}"])
    pb = json.loads(pb_json.read_text())["benchmarks"][0]["stats"]
    print(
        f"(c) adaptive sampling, ORT tinycnn, latency_ci {target}: {lat['ci_stop']} half-width "
        f"{lat['ci_half_width']:.4%} after {lat['samples']} calls in {spent:.2f} s of timing "
        f"(the whole item, accuracy pass included, {item['duration_s']:.2f} s); pytest-benchmark's "
        f"default run: {pb['rounds']} rounds, {time.perf_counter() - start:.2f} s wall (its session included)"
    )


def statistics_cost() -> None:
    from pytest_aibench.measure.stats import robustness, summarize_ns

    x = list(np.random.default_rng(0).lognormal(np.log(16_000), 0.2, 20_000).astype(np.int64))
    start = time.process_time()
    summarize_ns(x)
    robustness(x)
    cpu = time.process_time() - start
    measured = sum(x) / 1e9
    print(
        f"(d) statistics of 20,000 samples: {cpu * 1e3:.1f} ms CPU, {cpu / measured:.1%} of the {measured:.2f} s the calls took"
    )


def suite_walls(work: Path, suites: list[str]) -> None:
    for suite in suites:
        out = work / f"{suite}.json"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "--aibench",
            str(ROOT / "suites" / suite),
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        start = time.perf_counter()
        subprocess.run([*cmd, "--aibench-json", str(out), "--aibench-out", str(work / "o")], capture_output=True)
        wall = time.perf_counter() - start
        estimate = 0.0
        for item in json.loads(out.read_text())["items"]:
            lat, m = item["metrics"].get("latency") or {}, item["metrics"]
            p50 = lat.get("p50_ms") or 0.0
            calls = (lat.get("samples") or 0) + (item["info"].get("warmup") or {}).get("calls", 0)
            ips = (m.get("throughput") or {}).get("ips")
            evals = (m.get("eval") or {}).get("samples") or 0
            estimate += calls * p50 / 1e3 + (evals / ips if ips else 0.0)
        print(f"(e) suites/{suite} quick: {wall:.1f} s wall; bare-loop estimate of its timed work {estimate:.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat, fewer calls (CI runs it so; not asserted)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", help="also pair a published model's items (resnet50: the issue's <= 1.02 case)")
    args = ap.parse_args()
    repeats, calls = (1, 300) if args.quick else (args.repeats, 1500)
    os.environ.setdefault("AIBENCH_QUIET", "1")
    flags = [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_int8") if f in Path("/proc/cpuinfo").read_text()]
    print(f"CPU: {os.cpu_count()} logical, flags {' '.join(flags) or 'none of avx2/avx512'}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        items_vs_bare(work, repeats, calls)
        items_paired(work, repeats, work / "suite.yaml", profile="full")  # 2,000 pairs: quick's 250 leave ±1 %
        if args.model:
            published_paired(work, repeats, args.model)
        unused_plugin(work, 3 if args.quick else 7)
        for target in ("0.5%", "0.05%"):
            adaptive(work, target)
        statistics_cost()
        suite_walls(work, ["smoke"] if args.quick else ["smoke", "aiot"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
