"""What a paradigm hands back, and the loops and statistics that produce it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: what ``latency.measure`` says the latency.* figures are, in words every report uses
LATENCY_MEASURES = {
    "call": "time per timed call of latency.batch samples",
    "query": "LoadGen's per-query latency, from when it scheduled a query to its last sample's completion "
    "(its own percentiles; raw samples from its trace)",
    "none": "no latency: MLPerf's offline scenario measures throughput only",
    "token": "time per output token: one decode step of a generation (TPOT's samples)",
}


@dataclass
class Measurement:
    """Raw observations of one item. Metric groups turn it into numbers; reporters never see it."""

    predictions: Any = None  # np.ndarray of predicted class ids, eval order (a task's: ids, -1 unanswered)
    labels: Any = None  # np.ndarray of true class ids (a task other than classification: image ids)
    scores: Any = None  # np.ndarray (N, ...) raw outputs, eval order (retrieval's embeddings; a task decodes them)
    latency_ns: list[int] = field(default_factory=list)  # one entry per timed call
    latency_batch: int = 1  # samples per timed call
    latency_measure: str = "call"  # what latency_ns times: "call" (one timed call), "query" (LoadGen), "none"
    samples_per_s: float | None = None  # throughput as a load generator measured it (VIPS of a LoadGen item)
    round_medians_ns: list[int] = field(default_factory=list)  # one per independent latency round
    eval_wall_s: float = 0.0  # wall time of the accuracy pass
    eval_count: int = 0
    load_rss_mb: float | None = None  # RSS growth while the runner prepared the model
    peak_rss_mb: float | None = None  # process high-water mark after the item
    baseline_rss_mb: float | None = None  # the process's RSS when the item began (its high-water mark reset)
    reference: Any = None  # the fp32 model's predictions on the same samples (accuracy loss)
    mflops: float | None = None  # the model's MFLOPs per sample at the resolution run (VOPS)
    model_bytes: int | None = None  # the artifact's size on disk
    preprocess_s: float = 0.0  # decoding and preprocessing image files, apart from inference
    preprocess_count: int = 0  # images decoded in preprocess_s
    accuracy_na: str | None = None  # why accuracy does not apply (seeded untrained weights): no accuracy, no VIPS
    energy: dict[str, Any] = field(default_factory=dict)  # EnergyMeter.result(): always with energy.method
    loadgen: dict[str, Any] = field(default_factory=dict)  # parsed LoadGen results (loadgen.*)
    accelerator: dict[str, Any] = field(default_factory=dict)  # AcceleratorMeter.result(): a GPU item's NVML figures
    seed: int = 0  # the item's seed (bootstrap resampling is seeded with it)
    metrics: dict[str, Any] = field(default_factory=dict)  # extra metrics a paradigm measured itself
    info: dict[str, Any] = field(default_factory=dict)  # settings and facts to record
    flags: list[str] = field(default_factory=list)
