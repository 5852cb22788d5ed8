"""``single``: one node runs the model.

Built-in loops (no ``scenario``): an accuracy pass over the evaluation split in batches (throughput,
and energy metered around it), then the explicit warm-up policy, then ``latency_samples`` timed calls
of ``latency_batch`` samples. With a ``scenario`` axis value, MLPerf LoadGen drives the model
instead (see :mod:`pytest_aibench.measure.loadgen`)."""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_aibench import tasks
from pytest_aibench.core.metric import MetricInfo
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.measure import LATENCY_MEASURES, Measurement, loadgen, threads
from pytest_aibench.measure.accelerator import AcceleratorMeter
from pytest_aibench.measure.energy import EnergyMeter
from pytest_aibench.measure.host import HostLoad, busy_flag
from pytest_aibench.measure.loadgen import SCENARIOS
from pytest_aibench.measure.memory import peak_rss_mb
from pytest_aibench.measure.timing import (
    WARMING_FACTOR,
    Adaptive,
    adaptive_metrics,
    ci_fraction,
    needed_warmup,
    settle,
    time_calls,
    time_until,
    warm_up,
)
from pytest_aibench.paradigms import ParadigmContext, finite
from pytest_aibench.runtimes import timed
from pytest_aibench.tasks import raw

#: distinct inputs cycled by the latency loop (enough to defeat trivial caching, small in memory)
_LATENCY_INPUTS = 256
#: the same for decoded image files, fewer: they are held decoded (64 x 3 x 224 x 224 float32 is 38 MB)
_STREAMED_LATENCY_INPUTS = 64


def classes_hint(dataset: Any, outputs: int) -> str:
    """What to do when a model's scores do not match the dataset's classes, naming the source used."""
    source = getattr(dataset, "source", "?")
    where = {"images": "its class folders or labels file", "npz": "the labels in its file"}.get(
        source, f"its {source} source"
    )
    fix = (
        f"; if the model's {outputs} outputs are a label space the dataset's classes belong to (e.g. ImageNet's "
        f"1000), set params.num_classes: {outputs} on dataset {getattr(dataset, 'name', '?')!r}"
        if outputs > dataset.num_classes
        else "; the model must output one score per class"
    )
    return f"dataset {getattr(dataset, 'name', '?')!r} (source {source}) has {dataset.num_classes} classes, from {where}{fix}"


def predict(
    session,
    x: np.ndarray,
    batch_size: int,
    dataset: Any,
    where: str,
    task: str = "classification",
    untrained: bool = False,
) -> tuple[np.ndarray, float]:
    """Raw scores (N, classes) for ``x`` (already adapted) and the wall time the batched pass took; for
    another task, its raw outputs (N, ...), checked against what the task decodes."""
    preds = []
    num_classes = dataset.num_classes
    t0 = time.perf_counter()
    for i in range(0, len(x), batch_size):
        scores = session.infer(x[i : i + batch_size])
        if tasks.is_dense(task):
            if i == 0 and not untrained:  # seeded published-size weights: raw outputs timed, never decoded
                tasks.check_outputs(task, scores, dataset, where)
        elif scores.ndim != 2 or scores.shape[1] != num_classes:
            outputs = int(scores.shape[-1]) if scores.ndim else 0
            raise ArtifactError(
                f"{where}: model outputs shape {list(scores.shape)}, expected [N, {num_classes}] "
                f"class scores: {classes_hint(dataset, outputs)}"
            )
        preds.append(scores)
    wall = time.perf_counter() - t0
    out = raw.concat(preds)
    finite(out, f"{where}: the model")
    return out, wall


def prediction_hash(preds: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(preds, dtype=np.int64).tobytes()).hexdigest()


class SingleNode:
    name = "single"
    pairs = True  # timed call by call: --aibench-against re-measures the reference beside it
    #: its figures are the metric groups' (accuracy, latency, throughput, ...): nothing of its own
    provides: dict[str, MetricInfo] = {}

    @dataclass(frozen=True)
    class Params:
        """One node: its settings are ``settings:``; nothing else to choose."""

    def run(self, ctx: ParadigmContext) -> Measurement:
        s = ctx.settings
        x, y = ctx.dataset.eval_subset(s.eval_samples)
        if hasattr(x, "batches") and not ctx.case.scenario:  # image files: decoded a batch at a time
            return self._streamed(ctx, x, y)
        xa = ctx.session.adapt(x)
        if ctx.case.scenario:
            ctx.session.infer(xa[: s.batch_size])  # untimed: first-call setup
            return self._loadgen(ctx, xa, y)
        # the first batch untimed, so the throughput (and energy) exclude first-call setup; its outputs
        # count for accuracy, and the rest is timed (all of it again where one batch is all there is)
        bs, more = s.batch_size, len(xa) > s.batch_size
        first, _ = predict(ctx.session, xa[:bs], bs, ctx.dataset, ctx.case.id, ctx.task, ctx.untrained)
        rest = xa[bs:] if more else xa
        with EnergyMeter(ctx.node.idle_w, ctx.node.max_w, ctx.node.threads) as meter, AcceleratorMeter(s.device) as gpu:
            scores, wall = predict(ctx.session, rest, bs, ctx.dataset, ctx.case.id, ctx.task, ctx.untrained)
        scores = raw.concat([first, scores]) if more else scores
        preds = np.asarray(y) if ctx.dense else scores.argmax(-1)  # a task's ids: decoded after the item
        lb = s.latency_batch
        n = min(len(xa) // lb, _LATENCY_INPUTS) or 1
        inputs = [np.ascontiguousarray(xa[i * lb : (i + 1) * lb]) for i in range(n)]
        with HostLoad() as host:
            warm, latency, rounds = self._latency(ctx, inputs, host.probe)
        adaptive, worked = warm.pop("adaptive", None), warm.pop("threads_busy", None)
        return Measurement(
            metrics={k: v for k, v in (adaptive or {}).items() if k.startswith("latency.")},
            predictions=preds,
            labels=y,
            scores=scores,
            latency_ns=latency,
            latency_batch=lb,
            eval_wall_s=wall,
            eval_count=len(rest),
            peak_rss_mb=peak_rss_mb(),
            energy=meter.result(len(rest)),
            accelerator=gpu.result(),
            seed=ctx.seed,
            round_medians_ns=rounds,
            flags=busy_flag(host.result()),
            info={
                "warmup": warm,
                **({"adaptive": adaptive} if adaptive else {}),
                **({"threads_busy": worked} if worked else {}),
                "latency_inputs": n,
                "gc_disabled_while_timing": True,
                "host_load": host.result(),
                "latency_rounds": len(rounds) or 1,
                "energy_region": "accuracy pass after its first batch",
                "throughput_region": f"accuracy pass after its first batch: {len(rest)} of {len(xa)} samples",
                **({"accelerator": gpu.info} if gpu.info else {}),
                "prediction_hash": prediction_hash(preds),
            },
        )

    def _streamed(self, ctx: ParadigmContext, x: Any, y: np.ndarray) -> Measurement:
        """The accuracy pass over decoded batches (one in memory at a time): decoding and preprocessing are
        timed apart from inference, so VIPS can be stated with them (AIoTBench's way) or without."""
        s = ctx.settings

        def run(decoded: np.ndarray) -> tuple[Any, float]:
            return predict(
                ctx.session, ctx.session.adapt(decoded), len(decoded), ctx.dataset, ctx.case.id, ctx.task, ctx.untrained
            )

        # as in run(): the first batch untimed (decoding and first-call setup), its outputs scored; the rest
        # timed, decoding apart from inference; one batch alone runs again, timed
        batches, more = x.batches(s.batch_size), len(y) > s.batch_size
        first = run(next(batches)[0])[0]
        scores, wall, pre_s, count = [first] if more else [], 0.0, 0.0, 0
        with EnergyMeter(ctx.node.idle_w, ctx.node.max_w, ctx.node.threads) as meter:
            for decoded, seconds in batches if more else x.batches(s.batch_size):
                got, w = run(decoded)
                scores.append(got)
                wall += w
                pre_s += seconds
                count += len(decoded)
        out = raw.concat(scores)
        preds = np.asarray(y) if ctx.dense else out.argmax(-1)
        lb = s.latency_batch
        n = min(len(y) // lb, _STREAMED_LATENCY_INPUTS) or 1
        inputs = [ctx.session.adapt(x[i * lb : (i + 1) * lb]) for i in range(n)]
        with HostLoad() as host:
            warm, latency, rounds = self._latency(ctx, inputs, host.probe)
        adaptive, worked = warm.pop("adaptive", None), warm.pop("threads_busy", None)
        return Measurement(
            metrics={k: v for k, v in (adaptive or {}).items() if k.startswith("latency.")},
            predictions=preds,
            labels=y,
            scores=out,
            latency_ns=latency,
            latency_batch=lb,
            eval_wall_s=wall,
            eval_count=count,
            peak_rss_mb=peak_rss_mb(),
            energy=meter.result(count),
            seed=ctx.seed,
            round_medians_ns=rounds,
            flags=busy_flag(host.result()),
            preprocess_s=pre_s,
            preprocess_count=count,
            info={
                "warmup": warm,
                **({"adaptive": adaptive} if adaptive else {}),
                **({"threads_busy": worked} if worked else {}),
                "latency_inputs": n,
                "gc_disabled_while_timing": True,
                "host_load": host.result(),
                "latency_rounds": len(rounds) or 1,
                "streamed": f"decoded {s.batch_size} images at a time",
                "preprocess": ctx.dataset.meta.get("preprocess"),
                "energy_region": "accuracy pass after its first batch (decoding included)",
                "throughput_region": f"accuracy pass after its first batch: {count} of {len(y)} samples",
                "prediction_hash": prediction_hash(preds),
            },
        )

    @staticmethod
    def _latency(
        ctx: ParadigmContext, inputs: list[np.ndarray], probe: Callable[[], None]
    ) -> tuple[dict[str, Any], list[int], list[int]]:
        """Warm-up and timed calls; with ``latency_rounds`` > 1, each round on a freshly prepared session
        (its own thread pool and memory placement), so the rounds are independent replicates, spread over
        ``latency_span_s`` (idle between rounds) so they meet several of a shared machine's spells, not one.
        ``probe`` times the host's canary before each round and after the last (and halfway through a
        single round)."""
        s = ctx.settings
        rounds = max(1, s.latency_rounds)  # on a fresh session each where the runner can make one
        per_round = -(-s.latency_samples // rounds)
        target = ci_fraction(s.latency_ci)
        adaptive = (
            None
            if target is None
            else Adaptive(
                target, s.latency_min_samples, max(s.latency_min_samples, s.latency_max_samples), s.latency_max_s
            )
        )
        stops: list[dict[str, Any]] = []
        warm: dict[str, Any] = {}
        samples: list[int] = []
        medians: list[int] = []
        start = time.perf_counter()
        # rounds after the second: the warm-up a fresh session needed in round 2 (the first round's session
        # ran the accuracy pass before, so its warm-up says nothing about a cold one)
        later: int | None = None
        for r in range(rounds):
            if r and s.latency_span_s > 0:  # idle what is left of this round's share of the span
                time.sleep(max(0.0, start + s.latency_span_s * r / rounds - time.perf_counter()))
            session = ctx.session if r == 0 or ctx.fresh_session is None else ctx.fresh_session()
            call = timed(session, inputs[0])  # the runtime's call alone where outputs are converted after it
            try:
                probe()  # the host's canary first: the warm-up after it brings the CPU back to the model
                times: list[int] = []
                w = warm_up(call, inputs, s.warmup if later is None else later, times)  # collects garbage first
                topped = settle(call, inputs, statistics.median(times), sum(times)) if times else 0
                warm = warm or {**w, **({"settle_calls": topped} if topped else {})}
                if adaptive is not None:
                    (got, reached), worked = threads.watch(time_until, call, inputs, adaptive)
                    stops.append(reached)
                elif rounds > 1:
                    got, worked = threads.watch(time_calls, call, inputs, 1, per_round, collect=False)
                else:  # one more canary halfway, so a slow phase that starts mid-run shows
                    half = s.latency_samples // 2
                    got, worked = threads.watch(time_calls, call, inputs, 1, half, collect=False)
                    probe()
                    settle(call, inputs, statistics.median(got) if got else 0.0)
                    got += time_calls(call, inputs, 1, s.latency_samples - half, collect=False)
                warm = {**warm, "threads_busy": worked} if r == 0 and worked else warm
            finally:
                if session is not ctx.session:
                    session.close()
            samples += got
            medians.append(int(statistics.median(got)))
            if r == 1 and rounds > 2 and times and session is not ctx.session:  # the first fresh session's
                later = needed_warmup(times, medians[1])
                warm = {
                    **warm,
                    "later_rounds": later,
                    "later_rule": f"calls until none is {WARMING_FACTOR}x the median",
                }
        probe()
        if stops:  # adaptive: what each round reached, and the pooled interval the item reports
            warm = {**warm, "adaptive": {"rounds": stops, **adaptive_metrics(samples, stops)}}
        return warm, samples, medians if rounds > 1 else []

    def _loadgen(self, ctx: ParadigmContext, xa: np.ndarray, y: np.ndarray) -> Measurement:
        if not loadgen.available():
            raise NotAvailable(f"MLPerf LoadGen is not installed: {loadgen.INSTALL_HINT}")
        ones = [xa[i : i + 1] for i in range(min(len(xa), 32))]
        warm = warm_up(ctx.session.infer, ones, ctx.settings.warmup)
        scenario = SCENARIOS.get(str(ctx.case.scenario))
        r = scenario.run(ctx, xa, y, ctx.item_dir / "loadgen")
        lgm = r["loadgen"]
        per_query = scenario.per_query_samples(ctx.settings)
        measure = "none" if per_query is None else "query"
        sps = lgm.get("loadgen.samples_per_s")
        if sps is None and per_query and lgm.get("loadgen.mean_ms"):  # multi-stream: one query in flight at a time
            sps = per_query * 1e3 / lgm["loadgen.mean_ms"]
        return Measurement(
            predictions=r["predictions"],
            scores=r.get("raw"),  # a task's outputs, as LoadGen logged them: decoded and scored after the item
            labels=y,
            latency_ns=r["query_ns"] if per_query else [],
            latency_batch=per_query or 1,
            latency_measure=measure,
            samples_per_s=sps,
            peak_rss_mb=peak_rss_mb(),
            energy=r["energy"],
            loadgen=lgm,
            seed=ctx.seed,
            info={
                "warmup": warm,
                "loadgen": {"settings": r["settings"], "logs": r["logs"], "query_clock": r["query_clock"]},
                "energy_region": "LoadGen performance run",
                "latency_samples_are": LATENCY_MEASURES[measure],
                "prediction_hash": prediction_hash(r["predictions"]),
            },
        )
