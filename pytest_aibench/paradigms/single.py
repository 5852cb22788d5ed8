"""``single``: one node runs the model. An accuracy pass over the evaluation split (batched, which
also gives throughput), then batch-``latency_batch`` latency samples after an explicit warm-up."""

from __future__ import annotations

import hashlib
import time

import numpy as np

from ..artifact import ArtifactError
from ..measure import Measurement
from ..measure.memory import peak_rss_mb
from ..measure.timing import time_calls
from . import ParadigmContext

#: distinct inputs cycled by the latency loop (enough to defeat trivial caching, small in memory)
_LATENCY_INPUTS = 256


def predict(session, x: np.ndarray, batch_size: int, num_classes: int, where: str) -> tuple[np.ndarray, float]:
    """Class ids for ``x`` (already adapted) and the wall time the batched pass took."""
    preds = []
    t0 = time.perf_counter()
    for i in range(0, len(x), batch_size):
        scores = session.infer(x[i:i + batch_size])
        if scores.ndim != 2 or scores.shape[1] != num_classes:
            raise ArtifactError(f"{where}: model outputs shape {list(scores.shape)}, expected [N, {num_classes}] "
                                f"class scores for the dataset's {num_classes} classes")
        preds.append(scores.argmax(-1))
    wall = time.perf_counter() - t0
    return np.concatenate(preds), wall


def prediction_hash(preds: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(preds, dtype=np.int64).tobytes()).hexdigest()


class SingleNode:
    name = "single"

    def run(self, ctx: ParadigmContext) -> Measurement:
        s = ctx.settings
        x, y = ctx.dataset.eval_subset(s.eval_samples)
        xa = ctx.session.adapt(x)
        # one untimed batch first, so the accuracy pass (and its throughput) excludes first-call setup
        ctx.session.infer(xa[:s.batch_size])
        preds, wall = predict(ctx.session, xa, s.batch_size, ctx.dataset.num_classes, ctx.case.id)
        lb = s.latency_batch
        n = min(len(xa) // lb, _LATENCY_INPUTS) or 1
        inputs = [np.ascontiguousarray(xa[i * lb:(i + 1) * lb]) for i in range(n)]
        latency = time_calls(ctx.session.infer, inputs, s.warmup, s.latency_samples)
        return Measurement(
            predictions=preds, labels=y, latency_ns=latency, latency_batch=lb, eval_wall_s=wall,
            eval_count=len(y), peak_rss_mb=peak_rss_mb(),
            info={"warmup": {"policy": "count", "count": s.warmup}, "latency_inputs": n,
                  "gc_disabled_while_timing": True, "predictions_sha256": prediction_hash(preds)})
