"""MLPerf LoadGen scenarios around any runner: a QSL over the item's evaluation samples and a SUT
that answers queries on a worker thread with the prepared model.

Each scenario item runs LoadGen twice, as a submission run does: an accuracy pass (every sample once;
top-1 scored from LoadGen's own logged responses) and a performance pass, whose results are parsed
from ``mlperf_log_detail.txt``. Expected latency and QPS are calibrated from a short built-in run
unless the manifest sets them (LoadGen declares a run INVALID when they are far from reality). Logs
stay in the item's folder. LoadGen's RNG seeds come from the item's seed.
"""

from __future__ import annotations

import importlib.util
import queue
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.measure.energy import EnergyMeter
from pytest_aibench.measure.mlperf_log import (
    invalid_reason,
    parse_accuracy,
    parse_detail,
    parse_outputs,
    parse_trace,
    results,
)

if TYPE_CHECKING:
    import mlperf_loadgen as lg
else:
    lg = lazy("mlperf_loadgen")

from pytest_aibench.measure.stats import percentile
from pytest_aibench.measure.timing import time_calls
from pytest_aibench.registry import Registry

__all__ = ["SCENARIOS", "Scenario", "parse_accuracy", "parse_detail", "parse_trace", "results"]

#: per-query cost of the Python SUT path (LoadGen callback, queue, worker hand-off, completion), in ms;
#: measured by benchmarks/measure_overhead.py. Server QPS is calibrated against model + this.
SUT_OVERHEAD_MS = 0.045
#: probes of the Server target QPS search (each a performance run under the item's settings)
SERVER_SEARCH_STEPS = 5

#: what the result says when LoadGen ran under the suite's scaled durations and counts
SCALED_NOTE = "scaled settings, not a valid MLPerf result"

#: offline: the calibrated samples/s times this is the expected QPS LoadGen sizes its one query by
OFFLINE_MARGIN = 1.5

INSTALL_HINT = (
    "pip install 'pytest-aibench[loadgen]' (mlcommons-loadgen); without it, drop `scenarios:` to "
    "use the built-in single-stream and offline loops"
)


def available() -> bool:

    return importlib.util.find_spec("mlperf_loadgen") is not None


@dataclass
class Calibration:
    """What a short built-in run says about the model, to set LoadGen's expectations near reality."""

    single_ms: float  # median batch-1 latency
    multi_ms: float  # median latency of one samples_per_query batch
    offline_qps: float  # samples per second in batches


def calibrate(session: Any, xa: np.ndarray, samples_per_query: int, batch_size: int) -> Calibration:

    ones = [xa[i : i + 1] for i in range(min(32, len(xa)))]
    single = statistics.median(time_calls(session.infer, ones, 3, 30)) / 1e6
    spq = max(1, samples_per_query)
    multi_in = [np.ascontiguousarray(np.resize(xa, (spq, *xa.shape[1:])))]
    multi = statistics.median(time_calls(session.infer, multi_in, 2, 10)) / 1e6
    batch = np.ascontiguousarray(xa[:batch_size])
    per_batch = statistics.median(time_calls(session.infer, [batch], 1, 5)) / 1e9
    return Calibration(single, multi, len(batch) / per_batch if per_batch > 0 else 1000.0)


class _SUT:
    """Answers LoadGen queries on a worker thread: LoadGen's issuing thread never waits on a model."""

    def __init__(self, lg: Any, session: Any, xa: np.ndarray, batch: int, raw: bool = False):
        self.lg, self.session, self.xa, self.batch = lg, session, xa, batch
        #: respond with each sample's raw outputs (float32 bytes), as MLPerf's detection, language and speech
        #: harnesses do, for the task to decode from LoadGen's accuracy log; else the class id (int32)
        self.raw = raw
        self.service_ns: list[int] = []  # model time per SUT batch
        self.query_ns: list[int] = []  # per query: issue callback to its last sample's completion
        self.error: BaseException | None = None
        self._q: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="aibench-loadgen-sut", daemon=True)
        self._thread.start()

    def issue(self, samples: list[Any]) -> None:
        self._q.put((time.perf_counter_ns(), samples))

    def flush(self) -> None:
        pass

    def reset(self) -> None:
        """Forget the accuracy pass's timings before the performance pass."""
        self.service_ns.clear()
        self.query_ns.clear()

    def _work(self) -> None:
        lg, clock = self.lg, time.perf_counter_ns
        while True:
            got = self._q.get()
            if got is None:
                return
            issued, samples = got
            for start in range(0, len(samples), self.batch):
                chunk = samples[start : start + self.batch]
                preds = None
                if self.error is None:
                    try:
                        t0 = clock()
                        scores = self.session.infer(self.xa[[s.index for s in chunk]])
                        if self.raw:
                            preds = np.ascontiguousarray(scores, dtype=np.float32).reshape(len(chunk), -1)
                        else:
                            preds = np.ascontiguousarray(scores.argmax(-1), dtype=np.int32)
                        self.service_ns.append(clock() - t0)
                    except BaseException as exc:  # noqa: BLE001 - never leave LoadGen waiting
                        self.error = exc
                if preds is None:  # complete anyway: an unanswered sample hangs LoadGen forever
                    lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in chunk])
                else:
                    base, size = preds.ctypes.data, preds.strides[0]
                    lg.QuerySamplesComplete(
                        [lg.QuerySampleResponse(s.id, base + size * i, size) for i, s in enumerate(chunk)]
                    )
            self.query_ns.append(clock() - issued)

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=10)


class Scenario:
    """One LoadGen scenario: how queries are shaped and which expectations to set."""

    name = ""
    lg_name = ""

    def batch(self, settings: Any) -> int:
        return 1

    def per_query_samples(self, settings: Any) -> int | None:
        """Samples per query, or None where per-query latency means nothing (offline: one query of all)."""
        return 1

    def configure(self, ts: Any, settings: Any, cal: Calibration) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, ctx: Any, xa: np.ndarray, labels: np.ndarray, outdir: Path) -> dict[str, Any]:
        """Accuracy then performance; returns predictions, loadgen metrics, service times, settings."""
        s = ctx.settings
        cal = calibrate(ctx.session, xa, s.samples_per_query, s.batch_size)
        dense = bool(getattr(ctx, "dense", False))
        shape = np.shape(ctx.session.infer(xa[:1]))[1:] if dense else ()
        sut = _SUT(lg, ctx.session, xa, self.batch(s), raw=dense)
        lsut = lg.ConstructSUT(sut.issue, sut.flush)
        n = len(xa)
        qsl = lg.ConstructQSL(n, n, lambda samples: None, lambda samples: None)
        try:

            def start(
                mode: str, folder: str, extra: dict[str, Any] | None = None, trace: bool = False
            ) -> tuple[Path, dict[str, Any]]:
                ts = lg.TestSettings()
                ts.scenario = getattr(lg.TestScenario, self.lg_name)
                ts.mode = getattr(lg.TestMode, mode)
                if s.loadgen_settings != "official":  # official: LoadGen's own durations, counts and seeds
                    ts.min_duration_ms, ts.max_duration_ms = s.min_duration_ms, s.max_duration_ms
                    ts.min_query_count = s.min_query_count
                    seed = ctx.seed
                    ts.qsl_rng_seed, ts.sample_index_rng_seed, ts.schedule_rng_seed = seed, seed + 1, seed + 2
                used = self.configure(ts, s, cal)
                used |= {k: getattr(ts, k) for k in OFFICIAL_FIELDS if hasattr(ts, k)}
                for k, v in (extra or {}).items():
                    setattr(ts, k, v)
                    used[k] = v
                out = outdir / folder
                out.mkdir(parents=True, exist_ok=True)
                ls = lg.LogSettings()
                ls.log_output.outdir = str(out)
                ls.log_output.copy_summary_to_stdout = False
                ls.enable_trace = trace  # the performance pass: each query's latency as LoadGen measured it
                lg.StartTestWithLogSettings(lsut, qsl, ts, ls)
                if not trace:  # LoadGen leaves an empty one behind
                    (out / "mlperf_log_trace.json").unlink(missing_ok=True)
                if sut.error is not None:
                    raise sut.error
                return out, used

            note = ctx.progress.note
            note(f"LoadGen {self.name}: accuracy pass over {n} samples")
            acc_dir, _ = start("AccuracyOnly", "accuracy")
            raw = None
            if dense:  # the task decodes the logged outputs after the item; unanswered samples marked -1
                raw, answered = parse_outputs(acc_dir / "mlperf_log_accuracy.json", n, shape)
                preds = np.where(answered, labels, -1)
            else:
                preds = parse_accuracy(acc_dir / "mlperf_log_accuracy.json", n)
            sut.reset()
            chosen = self.choose(ctx, start, cal)
            sut.reset()
            note(f"LoadGen {self.name}: performance pass ({s.loadgen_settings} settings)")
            with EnergyMeter(ctx.node.idle_w, ctx.node.max_w, ctx.node.threads) as meter:
                perf_dir, used = start("PerformanceOnly", "performance", chosen, trace=True)
            note(f"LoadGen {self.name}: done")
            out = self._outcome(ctx, start, used, perf_dir, sut, preds, labels, cal, meter, outdir)
            if raw is not None:  # top-1 means nothing here: the task scores the outputs
                out["loadgen"].pop("loadgen.accuracy", None)
                out["raw"] = raw
            return out
        finally:
            sut.close()
            lg.DestroyQSL(qsl)
            lg.DestroySUT(lsut)

    def _outcome(
        self,
        ctx: Any,
        start: Any,
        used: dict[str, Any],
        perf_dir: Path,
        sut: _SUT,
        preds: np.ndarray,
        labels: np.ndarray,
        cal: Calibration,
        meter: Any,
        outdir: Path,
    ) -> dict[str, Any]:
        """The performance pass's figures from LoadGen's own logs, with what the run was set up with."""
        s = ctx.settings
        detail = parse_detail(perf_dir / "mlperf_log_detail.txt")
        metrics = results(detail, self.lg_name)
        query_ns, clock = queries_of(perf_dir, sut.query_ns)
        metrics |= service_times(sut.service_ns, self.batch(s))
        metrics["loadgen.accuracy"] = float((preds == labels).mean())
        metrics["loadgen.official_settings"] = s.loadgen_settings == "official"
        samples_done = int(detail.get("result_query_count", 0)) * max(
            1, int(detail.get("effective_samples_per_query", 1))
        )
        metrics.update(self.extra(ctx, start, used, metrics))
        kind = {"kind": s.loadgen_settings, **({} if s.loadgen_settings == "official" else {"note": SCALED_NOTE})}
        return {
            "predictions": preds,
            "loadgen": metrics,
            "service_ns": list(sut.service_ns),
            "query_ns": query_ns,
            "query_clock": clock,
            "batch": self.batch(s),
            "settings": {**used, "calibration": cal.__dict__, **kind},
            "energy": meter.result(samples_done),
            "logs": str(outdir),
        }

    def choose(self, ctx: Any, start: Any, cal: Calibration) -> dict[str, Any]:
        """Settings found by running LoadGen before the reported performance pass (none by default)."""
        return {}

    def extra(self, ctx: Any, start: Any, used: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
        return {}


#: TestSettings fields recorded with every run, so a reader sees the durations, counts and seeds it ran under
OFFICIAL_FIELDS = (
    "min_duration_ms",
    "max_duration_ms",
    "min_query_count",
    "qsl_rng_seed",
    "sample_index_rng_seed",
    "schedule_rng_seed",
)


def service_times(service_ns: list[int], batch: int) -> dict[str, Any]:
    """The model's time per SUT batch: kept apart from LoadGen's latency, and named as what it is."""
    if not service_ns:
        return {}
    ms = sorted(v / 1e6 for v in service_ns)
    return {
        "loadgen.service_p50_ms": percentile(ms, 50),
        "loadgen.service_p99_ms": percentile(ms, 99),
        "loadgen.service_batch": batch,
    }


def queries_of(perf_dir: Path, sut_clock_ns: list[int]) -> tuple[list[int], str]:
    """Per-query latencies from LoadGen's trace, which is then removed (megabytes: one line per sample, and
    the figures are kept in the run). Without a readable trace, the SUT's clock from issue to completion,
    which misses the delay between LoadGen's schedule and its issue call."""
    trace = perf_dir / "mlperf_log_trace.json"
    try:
        got = parse_trace(trace)
    except OSError:
        got = []
    trace.unlink(missing_ok=True)
    if got:
        return got, "LoadGen trace: scheduled to completion"
    return list(sut_clock_ns), "SUT clock: issue to completion"


class SingleStream(Scenario):
    name, lg_name = "single_stream", "SingleStream"

    def configure(self, ts: Any, s: Any, cal: Calibration) -> dict[str, Any]:
        ts.single_stream_expected_latency_ns = int((s.expected_latency_ms or cal.single_ms) * 1e6)
        return {"single_stream_expected_latency_ns": ts.single_stream_expected_latency_ns}


class MultiStream(Scenario):
    name, lg_name = "multi_stream", "MultiStream"

    def batch(self, s: Any) -> int:
        return s.samples_per_query

    def per_query_samples(self, s: Any) -> int | None:
        return int(s.samples_per_query)

    def configure(self, ts: Any, s: Any, cal: Calibration) -> dict[str, Any]:
        ts.multi_stream_samples_per_query = s.samples_per_query
        ts.multi_stream_expected_latency_ns = int((s.expected_latency_ms or cal.multi_ms) * 1e6)
        return {
            "multi_stream_samples_per_query": s.samples_per_query,
            "multi_stream_expected_latency_ns": ts.multi_stream_expected_latency_ns,
        }


class Server(Scenario):
    """MLPerf's Server result is the highest Poisson arrival rate whose run is VALID (latency bound met,
    enough queries), so the target QPS is searched, probe runs under the item's own settings, unless
    the manifest fixes ``server_target_qps``."""

    name, lg_name = "server", "Server"

    def configure(self, ts: Any, s: Any, cal: Calibration) -> dict[str, Any]:
        ts.server_target_qps = float(s.server_target_qps or capacity(cal))
        # MLPerf's server bounds are tens of ms (ResNet-50: 15 ms); without one, 50x the median, >= 10 ms
        ts.server_target_latency_ns = int((s.server_latency_ms or max(10.0, 50 * cal.single_ms)) * 1e6)
        return {"server_target_qps": ts.server_target_qps, "server_target_latency_ns": ts.server_target_latency_ns}

    def _outcome(
        self,
        ctx: Any,
        start: Any,
        used: dict[str, Any],
        perf_dir: Path,
        sut: _SUT,
        preds: np.ndarray,
        labels: np.ndarray,
        cal: Calibration,
        meter: Any,
        outdir: Path,
    ) -> dict[str, Any]:
        """The performance pass's figures from LoadGen's own logs, with what the run was set up with."""
        s = ctx.settings
        detail = parse_detail(perf_dir / "mlperf_log_detail.txt")
        metrics = results(detail, self.lg_name)
        query_ns, clock = queries_of(perf_dir, sut.query_ns)
        metrics |= service_times(sut.service_ns, self.batch(s))
        metrics["loadgen.accuracy"] = float((preds == labels).mean())
        metrics["loadgen.official_settings"] = s.loadgen_settings == "official"
        samples_done = int(detail.get("result_query_count", 0)) * max(
            1, int(detail.get("effective_samples_per_query", 1))
        )
        metrics.update(self.extra(ctx, start, used, metrics))
        kind = {"kind": s.loadgen_settings, **({} if s.loadgen_settings == "official" else {"note": SCALED_NOTE})}
        return {
            "predictions": preds,
            "loadgen": metrics,
            "service_ns": list(sut.service_ns),
            "query_ns": query_ns,
            "query_clock": clock,
            "batch": self.batch(s),
            "settings": {**used, "calibration": cal.__dict__, **kind},
            "energy": meter.result(samples_done),
            "logs": str(outdir),
        }

    def choose(self, ctx: Any, start: Any, cal: Calibration) -> dict[str, Any]:
        s = ctx.settings
        if s.server_target_qps or not s.find_peak_qps:
            return {}
        probes: list[dict[str, Any]] = []

        def valid_at(qps: float) -> bool:
            out, _ = start("PerformanceOnly", f"search-{len(probes)}-{qps:.0f}qps", {"server_target_qps": qps})
            detail = parse_detail(out / "mlperf_log_detail.txt")
            ok = detail.get("result_validity") == "VALID"
            probes.append({"qps": qps, "valid": ok, "reason": None if ok else invalid_reason(detail)})
            ctx.progress.note(f"LoadGen server: {qps:.0f} QPS {'VALID' if ok else 'INVALID'}")
            return ok

        peak = find_peak(valid_at, capacity(cal), None, SERVER_SEARCH_STEPS)
        self.searched = probes
        # none VALID: the lowest probe is reported (INVALID, with LoadGen's reason), not a made-up rate
        return {"server_target_qps": peak or min(p["qps"] for p in probes)}

    def extra(self, ctx: Any, start: Any, used: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
        out = {
            "loadgen.server_target_qps": used["server_target_qps"],
            "loadgen.server_latency_bound_ms": used["server_target_latency_ns"] / 1e6,
        }
        probes = getattr(self, "searched", None)
        if probes:
            out["loadgen.server_search_probes"] = len(probes)
            out["loadgen.server_peak_qps"] = max((p["qps"] for p in probes if p["valid"]), default=0.0)
            used["search"] = probes
        return out


def capacity(cal: Calibration) -> float:
    """Queries per second one stream of batch-1 calls sustains (the search's first probe)."""
    return 1000.0 / (cal.single_ms + SUT_OVERHEAD_MS)


class Offline(Scenario):
    name, lg_name = "offline", "Offline"

    def batch(self, s: Any) -> int:
        return s.batch_size

    def per_query_samples(self, s: Any) -> int | None:
        return None

    def configure(self, ts: Any, s: Any, cal: Calibration) -> dict[str, Any]:
        # calibrated QPS over-estimated by half: too low a guess ends the one query before min_duration_ms
        # (INVALID), too high a guess only makes the run longer
        ts.offline_expected_qps = float(s.expected_qps or OFFLINE_MARGIN * cal.offline_qps)
        return {"offline_expected_qps": ts.offline_expected_qps}


def find_peak(valid_at: Any, start_qps: float, start_valid: bool | None, steps: int = 6) -> float:
    """The highest QPS found VALID (0.0 if none): probe ``start_qps`` (unless its outcome is given), double
    while VALID, then bisect between the highest VALID and the lowest INVALID rate."""
    if start_valid is None:
        start_valid = bool(valid_at(start_qps))
        steps -= 1
    lo, hi = (start_qps, None) if start_valid else (0.0, start_qps)
    for _ in range(steps):
        qps = lo * 2 if hi is None else (lo + hi) / 2 if lo else hi / 4  # from nothing VALID: quarter steps down
        if qps <= 0:
            break
        if valid_at(qps):
            lo = qps
        else:
            hi = qps
    return lo


SCENARIOS: Registry[Scenario] = Registry(
    "scenario",
    "pytest_aibench.scenarios",
    {
        "single_stream": "pytest_aibench.measure.loadgen:SingleStream",
        "multi_stream": "pytest_aibench.measure.loadgen:MultiStream",
        "server": "pytest_aibench.measure.loadgen:Server",
        "offline": "pytest_aibench.measure.loadgen:Offline",
    },
)
