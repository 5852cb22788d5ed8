"""An item's memory figures belong to it: ``memory.item_peak_mb`` (its high-water mark less the RSS it
began with) is the same whether the ONNX Runtime item runs alone or after a torch item that left torch
(some hundreds of MiB) resident, while the process's mark (``memory.peak_rss_mb``) carries that history."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

SUITE = """\
suite: mem
version: "1.0"
datasets:
  digits: {source: digits}
models:
  tinycnn: {zoo: tinycnn-digits}
frameworks: [torch, onnxruntime]
quantizations: [fp32]
settings: {eval_samples: 256, latency_samples: 20, warmup: 2}
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the per-item peak needs Linux's resettable VmHWM")
def test_the_items_own_peak_does_not_carry_what_ran_before(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    (Path(pytester.path) / "suite.yaml").write_text(SUITE)

    def ort_item(*args: str) -> dict:
        r = pytester.runpytest_subprocess(
            "--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "r.json", *args
        )
        assert r.ret == 0
        items = json.loads((Path(pytester.path) / "r.json").read_text())["items"]
        return next(i for i in items if i["axes"]["framework"] == "onnxruntime")["metrics"]["memory"]

    alone, after_torch = ort_item("-k", "onnxruntime"), ort_item()
    assert after_torch["baseline_mb"] - alone["baseline_mb"] > 100  # torch and its model stayed resident
    assert after_torch["peak_rss_mb"] - alone["peak_rss_mb"] > 100  # so the process's mark carries them
    assert abs(after_torch["item_peak_mb"] - alone["item_peak_mb"]) < 25, (alone, after_torch)


def test_busy_threads_are_counted_from_their_own_cpu_clocks():
    import threading

    from pytest_aibench.measure import threads

    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    release = threading.Event()

    def helper() -> None:  # a pool thread: busy for a while, then parked (alive) until released
        spin(0.15)
        release.wait()

    def two_busy() -> str:
        threading.Thread(target=helper).start()
        spin(0.15)
        time.sleep(0.05)
        return "done"

    out, one = threads.watch(spin, 0.15)
    assert out is None and one["active"] == 1, one
    try:
        out, two = threads.watch(two_busy)
    finally:
        release.set()
    assert out == "done" and two["active"] == 2, two  # two Python threads share the GIL: each is busy
