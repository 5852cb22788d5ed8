"""``lanes``: lane markings as x positions at fixed rows, judged by TuSimple's benchmark rules.

Raw outputs are row-anchor logits (N, lanes, rows, cells + 1), Ultra-Fast-Lane-Detection's form: for
each lane slot and row, one logit per column cell and one for "no lane here". Decoding takes the
expected column over the cells (UFLD's soft-argmax) where "no lane" does not win; a lane with fewer
than two points is dropped. Scoring follows TuSimple's ``LaneEval.bench``: a point is correct within
``20 px × width / 1280`` (its 20 px at TuSimple's 1280 px) divided by the cosine of the lane's angle;
a predicted lane matches when 85 % of its points are correct; accuracy, FP and FN are averaged over
images (with TuSimple's allowance for more than four lanes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.tasks import shape_error, truth_hw

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")

PIXEL_THRESH = 20.0  # TuSimple's, at its 1280 px width
PT_THRESH = 0.85
ABSENT = -2.0


def angle(xs: np.ndarray, ys: np.ndarray) -> float:
    """The lane's angle from vertical: a least-squares line x = k y + b through its points (LaneEval)."""
    ok = xs >= 0
    if ok.sum() <= 1:
        return 0.0
    k = np.polyfit(ys[ok], xs[ok], 1)[0]
    return float(np.arctan(k))


def line_accuracy(pred: np.ndarray, gt: np.ndarray, thresh: float) -> float:
    pred = np.where(pred >= 0, pred, -100.0)
    gt = np.where(gt >= 0, gt, -100.0)
    return float(np.sum(np.abs(pred - gt) < thresh) / len(gt))


def bench(pred: list[np.ndarray], gt: list[np.ndarray], rows: np.ndarray, width: float) -> tuple[float, float, float]:
    """TuSimple's per-image accuracy, FP rate and FN rate (LaneEval.bench, without its runtime cut-off)."""
    if len(gt) + 2 < len(pred):
        return 0.0, 1.0, 1.0
    thresh = PIXEL_THRESH * width / 1280.0
    threshs = [thresh / np.cos(angle(g, rows)) for g in gt]
    line_accs, fn, matched = [], 0.0, 0.0
    for g, t in zip(gt, threshs, strict=True):
        accs = [line_accuracy(p, g, t) for p in pred]
        best = max(accs) if accs else 0.0
        if best < PT_THRESH:
            fn += 1
        else:
            matched += 1
        line_accs.append(best)
    fp = len(pred) - matched
    if len(gt) > 4 and fn > 0:
        fn -= 1
    s = sum(line_accs)
    if len(gt) > 4:
        s -= min(line_accs)
    denom = max(min(4.0, len(gt)), 1.0)
    return s / denom, fp / len(pred) if pred else 0.0, fn / denom


class Lanes:
    name = "lanes"
    headline = "lanes.accuracy"
    needs = "lanes"
    provides = declare(
        ("lanes.accuracy", "TuSimple accuracy: correct points of the matched lanes, per image", True, "1"),
        ("lanes.fp", "TuSimple false-positive rate: predicted lanes unmatched", False, "1"),
        ("lanes.fn", "TuSimple false-negative rate: true lanes missed", False, "1"),
        ("lanes.images", "images evaluated", None),
    )
    provides |= column(
        provides,
        {"lanes.accuracy": ("lane acc", "{:.3f}", 1.0, 1), "lanes.fp": ("FP", "{:.3f}"), "lanes.fn": ("FN", "{:.3f}")},
    )

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        rows = len(dataset.targets.rows) if dataset.targets is not None and dataset.targets.rows is not None else None
        if np.ndim(raw) != 4 or (rows is not None and np.shape(raw)[2] != rows):
            raise shape_error(
                where,
                self.name,
                raw,
                f"[N, lanes, {rows} rows, cells + 1] row-anchor logits",
                "the model's rows must be the dataset's h_samples",
            )

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[np.ndarray]:
        raw = np.asarray(raw, dtype=np.float64)
        cells = raw.shape[-1] - 1
        z = np.exp(raw - raw.max(-1, keepdims=True))
        p = z / z.sum(-1, keepdims=True)
        absent = p.argmax(-1) == cells
        cp = p[..., :cells] / np.maximum(p[..., :cells].sum(-1, keepdims=True), 1e-12)
        expect = (cp * np.arange(cells)).sum(-1)
        out = []
        for n, i in enumerate(ids):
            width = truth_hw(dataset.targets, int(i))[1]
            xs = np.where(absent[n], ABSENT, (expect[n] + 0.5) * width / cells)
            out.append(xs[(xs >= 0).sum(-1) >= 2].astype(np.float32))  # a lane needs two points
        return out

    def score(self, predictions: list[np.ndarray], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        truth = dataset.targets
        lanes = truth.need("lanes", self.name, dataset.name)
        acc = fp = fn = 0.0
        for p, i in zip(predictions, ids, strict=True):
            gt = [g for g in lanes[int(i)] if (g >= 0).any()]
            a, f, n = bench(list(p), gt, truth.rows, truth_hw(truth, int(i))[1])
            acc, fp, fn = acc + a, fp + f, fn + n
        k = max(1, len(ids))
        return {"lanes.accuracy": acc / k, "lanes.fp": fp / k, "lanes.fn": fn / k, "lanes.images": len(ids)}

    def empty(self, prediction: np.ndarray) -> np.ndarray:
        return prediction[:0]

    def canonical(self, prediction: np.ndarray) -> bytes:
        return np.round(np.asarray(prediction) * 16).astype(np.int64).tobytes()

    def confidence(self, prediction: np.ndarray) -> float:
        return 1.0

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        """The cell each lane crosses at each row, ``cells`` where the lane is absent."""
        cells = int(config.get("cells", 32))
        width = dataset.targets.size[1]
        lanes = np.asarray(dataset.targets.lanes)[np.asarray(dataset.y_train)]
        idx = np.clip(np.floor(lanes / width * cells), 0, cells - 1).astype(np.int64)
        return np.where(lanes >= 0, idx, cells)

    def loss(self, out: Any, target: Any) -> Any:
        return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1))
