"""Metric groups: each turns a :class:`Measurement` into named numbers and says what they mean.

Names carry their unit (``latency.p99_ms``); ``higher_is_better`` drives leaderboards and gates.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from pytest_aibench.core.metric import MetricInfo, column
from pytest_aibench.measure import Measurement
from pytest_aibench.measure.stats import robustness, summarize_ns
from pytest_aibench.registry import Registry


class MetricGroup(Protocol):
    name: str
    provides: dict[str, MetricInfo]

    def compute(self, m: Measurement) -> dict[str, Any]: ...


class Accuracy:
    name = "accuracy"
    provides = {
        "accuracy": MetricInfo("top-1 accuracy on the evaluation split", True, "1"),
        "accuracy_top5": MetricInfo("top-5 accuracy: the label among the five highest scores", True),
        "eval.correct": MetricInfo("correctly classified samples", True),
        "eval.samples": MetricInfo("evaluated samples", None),
    }

    provides |= column(provides, {"accuracy": ("acc", "{:.4f}", 1.0, 1)})

    def compute(self, m: Measurement) -> dict[str, Any]:
        if m.predictions is None or m.labels is None or len(m.labels) == 0 or m.accuracy_na:
            return {}
        correct = int((m.predictions == m.labels).sum())
        out: dict[str, Any] = {
            "accuracy": correct / len(m.labels),
            "eval.correct": correct,
            "eval.samples": len(m.labels),
        }
        scores = m.scores
        if scores is not None and np.ndim(scores) == 2 and len(scores) == len(m.labels) and np.shape(scores)[1] > 5:
            top5 = np.argpartition(-np.asarray(scores, dtype=np.float64), 5, axis=1)[:, :5]
            out["accuracy_top5"] = float((top5 == np.asarray(m.labels)[:, None]).any(axis=1).mean())
        return out


class Latency:
    """Latency percentiles. A LoadGen item's are LoadGen's own per-query figures, never the model's time
    per batch: a server query that queued 13 s is 13 s, however fast the model answered once it ran."""

    name = "latency"
    provides = {
        f"latency.{k}_ms": MetricInfo(f"{k} latency (see latency.measure)", False)
        for k in ("p50", "p90", "p99", "mean", "stdev", "min", "max")
    }
    provides |= column(provides, {"latency.p50_ms": ("p50 ms", "{:.3f}"), "latency.p99_ms": ("p99 ms", "{:.3f}")})
    provides |= {
        "latency.samples": MetricInfo("timed calls or LoadGen queries", None),
        "latency.batch": MetricInfo("samples per timed call or query", None),
        "latency.measure": MetricInfo(
            "call, query (LoadGen), token (a decode step) or none: what the latency figures time", None
        ),
        "latency.ci_target": MetricInfo("latency_ci: the median interval's half-width asked for (share)", None),
        "latency.ci_half_width": MetricInfo("the median's 95 % interval half-width reached, share of the p50", False),
        "latency.ci_stop": MetricInfo("adaptive sampling stopped: reached, max_samples or time_cap", None),
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        out: dict[str, Any] = summarize_ns(m.latency_ns, m.latency_batch)
        if m.latency_measure == "query":
            out |= {
                f"latency.{k}_ms": m.loadgen[f"loadgen.{k}_ms"]
                for k in ("p50", "p90", "p99", "mean", "min", "max")
                if f"loadgen.{k}_ms" in m.loadgen and out
            }
        if out or m.latency_measure == "none":
            out["latency.measure"] = m.latency_measure
        return out


class Throughput:
    name = "throughput"
    provides = {"throughput.ips": MetricInfo("inferences per second over the batched accuracy pass", True)}

    provides |= column(provides, {"throughput.ips": ("items/s", "{:.1f}")})

    def compute(self, m: Measurement) -> dict[str, Any]:
        if m.eval_wall_s <= 0 or not m.eval_count:
            return {}
        return {"throughput.ips": m.eval_count / m.eval_wall_s}


def images_per_second(m: Measurement) -> float | None:
    """Images per second as the item paced them: LoadGen's rate, else one over the mean latency per image."""
    if m.samples_per_s:
        return m.samples_per_s
    if not m.latency_ns:
        return None
    seconds_per_image = sum(m.latency_ns) / len(m.latency_ns) / 1e9 / max(1, m.latency_batch)
    return 1.0 / seconds_per_image if seconds_per_image > 0 else None


class Vips:
    """AIoTBench's VIPS of one workload: accuracy over mean seconds per image (a/t)."""

    name = "vips"
    provides = {
        "vips": MetricInfo("valid images per second: accuracy / mean seconds per image (inference alone)", True),
        "vips_with_preprocessing": MetricInfo(
            "AIoTBench's VIPS: accuracy / (inference + decoding and preprocessing seconds per image)", True
        ),
        "preprocess.ms_per_image": MetricInfo("decoding and preprocessing time per image (image files)", False),
    }

    provides |= column(provides, {"vips": ("VIPS", "{:.1f}", 1.0, 4)})

    def compute(self, m: Measurement) -> dict[str, Any]:
        if m.predictions is None or m.labels is None or len(m.labels) == 0 or m.accuracy_na:
            return {}
        accuracy = float((m.predictions == m.labels).mean())
        if not m.samples_per_s and not m.latency_ns:
            return {}
        rate = images_per_second(m)
        out = {"vips": accuracy * rate if rate is not None else 0.0}
        if m.preprocess_count and rate:
            per_image = m.preprocess_s / m.preprocess_count
            out |= {
                "vips_with_preprocessing": accuracy / (1 / rate + per_image),
                "preprocess.ms_per_image": per_image * 1e3,
            }
        return out


class AccuracyLoss:
    """AIIA's accuracy loss of a variant against the same model's fp32, on the very same samples: the
    model's own answers (its output scores), so a lost network reply or a cloud's answer in a
    collaborative paradigm is not counted as a quantization loss."""

    name = "accuracy_loss"
    provides = {
        "accuracy_fp32": MetricInfo("the fp32 model's accuracy on the same samples", True),
        "accuracy_loss": MetricInfo("fp32 accuracy minus this variant's", False),
        "accuracy_loss_ratio": MetricInfo("accuracy loss / fp32 accuracy (AIIA)", False),
        "agreement": MetricInfo("fraction of predictions equal to the fp32 model's", True),
    }

    provides |= column(provides, {"accuracy_loss": ("Δacc", "{:+.4f}")})

    def compute(self, m: Measurement) -> dict[str, Any]:
        if m.reference is None or m.predictions is None or len(m.reference) != len(m.predictions) or m.accuracy_na:
            return {}

        own = m.predictions
        if m.scores is not None and len(m.scores) == len(m.predictions) and np.ndim(m.scores) == 2:
            own = np.asarray(m.scores).argmax(-1)
        ref = float((m.reference == m.labels).mean())
        acc = float((own == m.labels).mean())
        return {
            "accuracy_fp32": ref,
            "accuracy_loss": ref - acc,
            "accuracy_loss_ratio": (ref - acc) / ref if ref > 0 else 0.0,
            "agreement": float((own == m.reference).mean()),
        }


class Vops:
    """AIoTBench's VOPS of one workload: accuracy × MFLOPs per image over mean seconds per image; and
    the effective GFLOP/s (the same without the accuracy term), which untrained weights still have."""

    name = "vops"
    provides = {
        "vops": MetricInfo("valid operations per second: accuracy × MFLOPs / mean seconds per image", True),
        "mflops": MetricInfo("MFLOPs per sample at the resolution run (counted by code)", None),
        "gflops_effective": MetricInfo(
            "effective GFLOP/s: MFLOPs per image × images per second / 1000 (VOPS without the accuracy term)", True
        ),
    }

    provides |= column(provides, {"vops": ("VOPS", "{:.1f}")})

    def compute(self, m: Measurement) -> dict[str, Any]:
        if m.mflops is None:
            return {}
        out: dict[str, Any] = {"mflops": m.mflops}
        rate = images_per_second(m)
        if rate is not None:
            out["gflops_effective"] = m.mflops * rate / 1e3
        vips = Vips().compute(m).get("vips")
        if vips is not None:
            out["vops"] = vips * m.mflops
        return out


class ModelSize:
    name = "model"
    provides = {"model.size_mb": MetricInfo("artifact size on disk (MiB)", False)}

    provides |= column(provides, {"model.size_mb": ("MB", "{:.2f}")})

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {} if m.model_bytes is None else {"model.size_mb": m.model_bytes / 2**20}


class LatencyStats:
    """Evidence about the latency samples: distribution-free 95 % intervals, spread, outliers."""

    name = "stats"
    provides = {
        f"latency.{q}_ci_{side}_ms": MetricInfo(f"95 % interval of {q} (order statistics), {side} end", False)
        for q in ("p50", "p99")
        for side in ("low", "high")
    }
    provides |= {
        "latency.cv": MetricInfo("coefficient of variation of the latency samples", False),
        "latency.outliers": MetricInfo("samples outside Tukey's fences", False),
    }

    def compute(self, m: Measurement) -> dict[str, Any]:

        return robustness(m.latency_ns, seed=m.seed)


class Energy:
    """Joules per inference and inferences per second per watt, never without ``energy.method``."""

    name = "energy"
    provides = {
        "energy.j_per_inference": MetricInfo("joules per inference (accuracy pass)", False),
        "energy.ips_per_w": MetricInfo("inferences per second per watt", True),
        "energy.joules": MetricInfo("joules over the measured region", False),
        "energy.watts": MetricInfo("mean power over the measured region", False),
        "energy.seconds": MetricInfo("length of the measured region", None),
        "energy.method": MetricInfo("rapl (counters) or model (P_idle + (P_max - P_idle) u)", None),
        "energy.utilization": MetricInfo("power model: CPU time / (wall time x cores)", None),
        "energy.idle_w": MetricInfo("power model: idle watts", None),
        "energy.max_w": MetricInfo("power model: busy watts", None),
    }

    provides |= column(provides, {"energy.j_per_inference": ("mJ/inf", "{:.3f}", 1000.0)})

    def compute(self, m: Measurement) -> dict[str, Any]:
        return dict(m.energy) if m.energy.get("energy.method") else {}


class LoadGen:
    """MLPerf LoadGen results of a scenario item, parsed from its mlperf_log_detail.txt."""

    name = "loadgen"
    provides = {
        f"loadgen.{k}": MetricInfo(text, better)
        for k, text, better in (
            ("valid", "LoadGen's result_validity == VALID", True),
            ("result", "VALID or INVALID", None),
            ("invalid_reason", "why INVALID: every failed criterion with LoadGen's numbers, then its advice", None),
            ("failed", "the failed criteria: min_duration, min_queries, latency_constraint, early_stopping", None),
            ("mean_ms", "LoadGen's mean per-query latency", False),
            ("min_ms", "LoadGen's shortest per-query latency", False),
            ("max_ms", "LoadGen's longest per-query latency", False),
            ("mlperf", "the figure MLPerf reports for the scenario, with its unit and name", None),
            ("mlperf_value", "the figure MLPerf reports (early-stopping p90/p99 ms, or samples/s)", None),
            ("mlperf_unit", "ms or samples/s", None),
            ("mlperf_metric", "which figure MLPerf reports for the scenario", None),
            ("service_p50_ms", "model time per SUT batch, median (not a latency LoadGen reports)", False),
            ("service_p99_ms", "model time per SUT batch, 99th percentile", False),
            ("service_batch", "samples per SUT batch", None),
            ("p50_ms", "LoadGen's 50th percentile latency", False),
            ("p90_ms", "LoadGen's 90th percentile latency", False),
            ("p99_ms", "LoadGen's 99th percentile latency", False),
            ("p99_9_ms", "LoadGen's 99.9th percentile latency", False),
            ("early_stopping_p90_ms", "early-stopping estimate of the 90th percentile", False),
            ("early_stopping_p99_ms", "early-stopping estimate of the 99th percentile", False),
            ("samples_per_s", "samples per second", True),
            ("server_target_qps", "server scenario: target QPS", None),
            ("server_latency_bound_ms", "server scenario: the p99 latency bound", None),
            ("server_scheduled_qps", "server scenario: scheduled samples per second", None),
            ("server_peak_qps", "server scenario: highest QPS found VALID under the bound", True),
            ("server_search_probes", "server scenario: LoadGen runs that searched the target QPS", None),
            (
                "official_settings",
                "whether LoadGen ran under its own durations, query counts and seeds "
                "(false: scaled settings, not a valid MLPerf result)",
                None,
            ),
            ("queries", "queries LoadGen issued", None),
            ("accuracy", "top-1 accuracy of LoadGen's logged responses (accuracy mode)", True),
        )
    }

    provides |= column(provides, {"loadgen.result": ("LoadGen", "{}"), "loadgen.mlperf": ("MLPerf result", "{}")})
    provides["loadgen.mlperf"] = replace(provides["loadgen.mlperf"], sort_by="loadgen.mlperf_value")

    def compute(self, m: Measurement) -> dict[str, Any]:
        return dict(m.loadgen)


class Binary:
    """Detection quality for two-class tasks (class 1 is the event: deterioration, a face): what a
    clinician or a doorbell cares about beyond accuracy. An unanswered input (-1) is wrong either way."""

    name = "binary"
    provides = {
        name: MetricInfo(text, True)
        for name, text in (
            ("binary.sensitivity", "recall of the event class (true positive rate)"),
            ("binary.specificity", "true negative rate"),
            ("binary.precision", "positive predictive value"),
            ("binary.f1", "harmonic mean of precision and sensitivity"),
            ("binary.balanced_accuracy", "mean of sensitivity and specificity"),
            ("binary.auroc", "area under the ROC curve of the event's score (scikit-learn)"),
            ("binary.auprc", "area under the precision-recall curve: average precision (scikit-learn)"),
        )
    }

    provides |= column(provides, {"binary.sensitivity": ("sens", "{:.3f}"), "binary.specificity": ("spec", "{:.3f}")})

    def compute(self, m: Measurement) -> dict[str, Any]:

        if m.predictions is None or m.labels is None or len(m.labels) == 0:
            return {}
        y, p = np.asarray(m.labels), np.asarray(m.predictions)
        if not set(np.unique(y)) <= {0, 1}:
            return {}
        tp, tn = int(((p == 1) & (y == 1)).sum()), int(((p == 0) & (y == 0)).sum())
        pos, neg, called = int((y == 1).sum()), int((y == 0).sum()), int((p == 1).sum())
        sens = tp / pos if pos else 0.0
        spec = tn / neg if neg else 0.0
        prec = tp / called if called else 0.0
        return self._curves(m, y, p) | {
            "binary.sensitivity": sens,
            "binary.specificity": spec,
            "binary.precision": prec,
            "binary.f1": 2 * prec * sens / (prec + sens) if prec + sens else 0.0,
            "binary.balanced_accuracy": (sens + spec) / 2,
        }

    @staticmethod
    def _curves(m: Measurement, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
        """ROC and PR areas of the event's score (its logit margin); an unanswered input scores lowest.
        Needs scikit-learn, the field's reference, and both classes among the samples."""
        scores = None if m.scores is None else np.asarray(m.scores, dtype=np.float64)
        if scores is None or scores.ndim != 2 or scores.shape[1] != 2 or len(np.unique(y)) < 2:
            return {}
        try:
            from sklearn import metrics  # noqa: PLC0415 (optional: the tasks extra)
        except ImportError:
            return {}
        margin = np.where(p == -1, np.nan, scores[:, 1] - scores[:, 0])
        finite = np.isfinite(margin)
        if not finite.any():
            return {}
        margin[~finite] = margin[finite].min() - 1.0
        return {
            "binary.auroc": float(metrics.roc_auc_score(y, margin)),
            "binary.auprc": float(metrics.average_precision_score(y, margin)),
        }


class Retrieval:
    """Re-identification quality: each evaluation sample queries all the others by cosine similarity
    of the model's output vectors; a hit is the same identity (leave-one-out, as metric-learning
    benchmarks evaluate). Queries whose identity has no other sample are skipped."""

    name = "retrieval"
    opt_in = True  # quadratic in the evaluated samples: only where a manifest asks for it
    max_queries = 4000
    provides = {
        "retrieval.rank1": MetricInfo("share of queries whose nearest neighbour is the same identity", True),
        "retrieval.rank5": MetricInfo("share of queries with the same identity among the 5 nearest", True),
        "retrieval.map": MetricInfo("mean average precision over the ranked gallery", True),
        "retrieval.queries": MetricInfo("queries evaluated", None),
    }

    provides |= column(provides, {"retrieval.rank1": ("rank-1", "{:.3f}"), "retrieval.map": ("mAP", "{:.3f}")})

    def compute(self, m: Measurement) -> dict[str, Any]:

        if m.scores is None or m.labels is None or len(m.labels) < 2:
            return {}
        n = min(len(m.labels), self.max_queries)  # the first n: the same samples for every item
        emb = np.asarray(m.scores, dtype=np.float64).reshape(len(m.labels), -1)[:n]
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        y = np.asarray(m.labels)[:n]
        sim = emb @ emb.T
        np.fill_diagonal(sim, -np.inf)
        order = np.argsort(-sim, axis=1, kind="stable")[:, :-1]  # the query itself sorts last
        hits = y[order] == y[:, None]
        valid = hits.any(axis=1)
        if not valid.any():
            return {}
        hits = hits[valid]
        precision_at = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
        ap = (precision_at * hits).sum(axis=1) / hits.sum(axis=1)
        return {
            "retrieval.rank1": float(hits[:, 0].mean()),
            "retrieval.rank5": float(hits[:, :5].any(axis=1).mean()),
            "retrieval.map": float(ap.mean()),
            "retrieval.queries": int(valid.sum()),
        }


class Memory:
    name = "memory"
    provides = {
        "memory.peak_rss_mb": MetricInfo("process resident high-water mark after the item", False),
        "memory.load_mb": MetricInfo("resident memory added by loading the model", False),
        "memory.item_peak_mb": MetricInfo(
            "the item's own peak: the high-water mark over the RSS the item began with (what earlier items "
            "left excluded)",
            False,
        ),
        "memory.baseline_mb": MetricInfo("the process's RSS when the item began", None),
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        out = {}
        if m.peak_rss_mb is not None:
            out["memory.peak_rss_mb"] = m.peak_rss_mb
            if m.baseline_rss_mb is not None:
                out["memory.item_peak_mb"] = max(0.0, m.peak_rss_mb - m.baseline_rss_mb)
                out["memory.baseline_mb"] = m.baseline_rss_mb
        if m.load_rss_mb is not None:
            out["memory.load_mb"] = m.load_rss_mb
        return out


def default_groups() -> tuple[str, ...]:
    """The groups measured when a manifest names none: every registered one but the opt-in ones."""

    return tuple(n for n in METRICS.names() if not getattr(METRICS.get(n), "opt_in", False))


def compute_all(groups: tuple[str, ...], m: Measurement) -> dict[str, Any]:
    """Every metric of ``groups`` (the default groups when empty) plus the paradigm's own."""

    out: dict[str, Any] = {}
    for name in groups or default_groups():
        out.update(METRICS.get(name).compute(m))
    out.update(m.metrics)
    return out


METRICS: Registry[MetricGroup] = Registry(
    "metric group",
    "pytest_aibench.metrics",
    {
        "accuracy": "pytest_aibench.judge.metrics:Accuracy",
        "latency": "pytest_aibench.judge.metrics:Latency",
        "throughput": "pytest_aibench.judge.metrics:Throughput",
        "vips": "pytest_aibench.judge.metrics:Vips",
        "memory": "pytest_aibench.judge.metrics:Memory",
        "accuracy_loss": "pytest_aibench.judge.metrics:AccuracyLoss",
        "vops": "pytest_aibench.judge.metrics:Vops",
        "model": "pytest_aibench.judge.metrics:ModelSize",
        "stats": "pytest_aibench.judge.metrics:LatencyStats",
        "energy": "pytest_aibench.judge.metrics:Energy",
        "accelerator": "pytest_aibench.measure.accelerator:Accelerator",
        "loadgen": "pytest_aibench.judge.metrics:LoadGen",
        "repro": "pytest_aibench.judge.declared:Repro",
        "seeds": "pytest_aibench.judge.declared:Seeds",
        "collaborative": "pytest_aibench.judge.declared:ByParadigm",
        "kernel": "pytest_aibench.judge.declared:ByParadigm",
        "training": "pytest_aibench.judge.declared:ByParadigm",
        "paired": "pytest_aibench.judge.declared:Paired",
        "binary": "pytest_aibench.judge.metrics:Binary",
        "retrieval": "pytest_aibench.judge.metrics:Retrieval",
    },
)
