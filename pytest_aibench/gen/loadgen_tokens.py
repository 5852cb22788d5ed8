"""MLPerf LoadGen in token-latency mode (``use_token_latencies``) for a decoder: Server and Offline.

The SUT answers each sample with greedy generation on one worker thread; it reports the first token
with ``FirstTokenComplete`` and the whole answer (its token ids, counted) with ``QuerySamplesComplete``,
so LoadGen itself measures TTFT and TPOT, and its ``ttft_latency``/``tpot_latency`` constraints decide
VALID in Server (MLPerf's LLM rules: the 99th percentiles of both). The accuracy pass's logged token
ids are decoded and judged by the task like any other answer."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.data import prompts
from pytest_aibench.gen import decoding
from pytest_aibench.measure.loadgen import OFFLINE_MARGIN
from pytest_aibench.measure.mlperf_log import parse_detail, results

if TYPE_CHECKING:
    import mlperf_loadgen as lg
else:
    lg = lazy("mlperf_loadgen")

#: detail-log keys of token mode -> our metric names (ns -> ms where the key is a latency)
TOKEN_KEYS = {
    "result_first_token_mean_latency_ns": "loadgen.ttft_mean_ms",
    "result_first_token_50.00_percentile_latency_ns": "loadgen.ttft_p50_ms",
    "result_first_token_90.00_percentile_latency_ns": "loadgen.ttft_p90_ms",
    "result_first_token_99.00_percentile_latency_ns": "loadgen.ttft_p99_ms",
    "result_time_to_output_token_mean": "loadgen.tpot_mean_ms",  # ns, though the key does not say so
    "result_time_per_output_token_50.00_percentile_ns": "loadgen.tpot_p50_ms",
    "result_time_per_output_token_90.00_percentile_ns": "loadgen.tpot_p90_ms",
    "result_time_per_output_token_99.00_percentile_ns": "loadgen.tpot_p99_ms",
    "result_tokens_per_second": "loadgen.tokens_per_s",  # Offline's reported figure
    "result_completed_tokens_per_second": "loadgen.tokens_per_s",  # Server's reported figure
    "result_token_throughput_with_loadgen_overhead": "loadgen.tokens_per_s_with_overhead",
}
_NS = {"result_time_to_output_token_mean"}
#: LoadGen's figures under the names the generate paradigm's own loop reports (gates read either run alike)
AS_ITEM = {
    **{f"loadgen.{w}_{q}_ms": f"{w}.{q}_ms" for w in ("ttft", "tpot") for q in ("mean", "p50", "p90", "p99")},
    "loadgen.tokens_per_s": "tokens_per_s.total",
}


def token_results(detail: dict[str, Any], scenario: str) -> dict[str, Any]:
    """``loadgen.*`` of a token-latency run: the usual ones, TTFT/TPOT, and tokens/s as MLPerf's LLM
    benchmarks report it (Server: completed tokens/s; Offline: tokens/s), in place of samples/s."""
    out = results(detail, scenario)
    for key, name in TOKEN_KEYS.items():
        value = detail.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = value / 1e6 if key.endswith("_ns") or key in _NS else float(value)
    if "loadgen.tokens_per_s" in out:
        what = "completed tokens/s" if scenario == "Server" else "tokens/s"
        out |= {"loadgen.mlperf_value": out["loadgen.tokens_per_s"], "loadgen.mlperf_unit": "tokens/s",
                "loadgen.mlperf_metric": what, "loadgen.mlperf": f"{out['loadgen.tokens_per_s']:.0f} {what}"}  # fmt: skip
    return out


class TokenSUT:
    """Answers LoadGen's samples one at a time, greedily, on a worker thread."""

    def __init__(self, dec: decoding.Decoder, rows: list[np.ndarray], max_new: int, stop: int):
        self.dec, self.rows, self.max_new, self.stop = dec, rows, max_new, stop
        self.q: queue.Queue[Any] = queue.Queue()
        self.keep: list[np.ndarray] = []  # answers stay alive until LoadGen has copied them
        self.error: BaseException | None = None
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()

    def issue(self, samples: list[Any]) -> None:
        for s in samples:
            self.q.put(s)

    def flush(self) -> None:
        pass

    def _work(self) -> None:
        while (s := self.q.get()) is not None:
            try:
                self._answer(s)
            except BaseException as exc:  # noqa: BLE001 - reported after the run; the sample is still answered
                self.error = self.error or exc
                lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0, 0)])

    def _answer(self, s: Any) -> None:
        def first(token: int) -> None:
            arr = np.array([token], dtype=np.int32)
            self.keep.append(arr)
            lg.FirstTokenComplete([lg.QuerySampleResponse(s.id, arr.ctypes.data, arr.nbytes, 1)])

        g = decoding.greedy(self.dec, self.rows[s.index], self.max_new, self.stop, on_first=first)
        arr = np.asarray(g.tokens, dtype=np.int32)
        self.keep.append(arr)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, arr.ctypes.data, arr.nbytes, len(g.tokens))])

    def close(self) -> None:
        self.q.put(None)
        self.worker.join(timeout=60)


def run(ctx: Any, dec: decoding.Decoder, rows: list[np.ndarray], scenario: str, outdir: Path,
        max_new: int, stop: int, limits: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    """Accuracy, then performance, in token-latency mode; the answers' texts and ``loadgen.*`` figures."""
    s = ctx.settings
    warm = [decoding.greedy(dec, rows[i % len(rows)], max_new, stop) for i in range(4)]  # calibration, warm
    per_query_s = max(float(np.median([g.total_ns for g in warm[1:]])) / 1e9, 1e-4)
    sut = TokenSUT(dec, rows, max_new, stop)
    lsut = lg.ConstructSUT(sut.issue, sut.flush)
    qsl = lg.ConstructQSL(len(rows), len(rows), lambda x: None, lambda x: None)
    used: dict[str, Any] = {}
    try:

        def start(mode: str, folder: str) -> Path:
            ts = lg.TestSettings()
            ts.scenario = getattr(lg.TestScenario, scenario)
            ts.mode = getattr(lg.TestMode, mode)
            ts.use_token_latencies = True
            ts.min_duration_ms, ts.max_duration_ms = s.min_duration_ms, s.max_duration_ms
            ts.min_query_count = s.min_query_count
            ts.qsl_rng_seed, ts.sample_index_rng_seed, ts.schedule_rng_seed = ctx.seed, ctx.seed + 1, ctx.seed + 2
            ts.ttft_latency = int(limits["ttft_ms"] * 1e6)
            ts.tpot_latency = int(limits["tpot_ms"] * 1e6)
            if scenario == "Server":
                ts.server_target_qps = float(limits.get("target_qps") or 0.5 / per_query_s)
            else:
                ts.offline_expected_qps = OFFLINE_MARGIN / per_query_s  # one query sized to outlast min_duration
            used.update(scenario=scenario, ttft_latency_ns=ts.ttft_latency, tpot_latency_ns=ts.tpot_latency,
                        target_qps=ts.server_target_qps if scenario == "Server" else ts.offline_expected_qps,
                        min_duration_ms=ts.min_duration_ms, min_query_count=ts.min_query_count)  # fmt: skip
            out = outdir / folder
            out.mkdir(parents=True, exist_ok=True)
            ls = lg.LogSettings()
            ls.log_output.outdir = str(out)
            ls.log_output.copy_summary_to_stdout = False
            lg.StartTestWithLogSettings(lsut, qsl, ts, ls)
            (out / "mlperf_log_trace.json").unlink(missing_ok=True)
            if sut.error is not None:
                raise sut.error
            return out

        acc = start("AccuracyOnly", "accuracy")
        texts = answers(acc / "mlperf_log_accuracy.json", len(rows))
        t0 = time.perf_counter()
        perf = start("PerformanceOnly", "performance")
        wall = time.perf_counter() - t0
    finally:
        sut.close()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(lsut)
    detail = parse_detail(perf / "mlperf_log_detail.txt")
    return {"texts": texts, "loadgen": token_results(detail, scenario), "settings": used, "wall_s": wall,
            "logs": str(outdir)}  # fmt: skip


def answers(path: Path, n: int) -> list[str]:
    """Each sample's generated text from LoadGen's accuracy log (hex int32 token ids); "" if unanswered."""
    out = [""] * n
    for rec in json.loads(path.read_text() or "[]"):
        ids = np.frombuffer(bytes.fromhex(rec["data"]), dtype=np.int32)
        out[int(rec["qsl_idx"])] = prompts.decode(ids)
    return out
