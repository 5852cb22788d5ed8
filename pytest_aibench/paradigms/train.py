"""Training as a benchmark: ``trial`` (one AutoML search point, AIPerf-style), ``train_to_quality``
(MLPerf-training-style time to a target accuracy over several seeds) and ``serve_trained`` (the
trained model served for inference in the same run, as AI Bench composes offline training and online
inference). Training is seeded end to end: initialisation, data order, augmentation and dropout."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import ParadigmContext
from pytest_aibench.paradigms.single import SingleNode, prediction_hash
from pytest_aibench.paradigms.torchtrain import architecture, deterministic, predict
from pytest_aibench.quantization import QUANTIZATIONS
from pytest_aibench.runtimes import ServesModule
from pytest_aibench.zoo import build_module, count_flops

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")


@dataclass(frozen=True)
class ToQualityParams:
    """Training to a target quality (train_to_quality; serve_trained trains the same way once)."""

    target_accuracy: float = 0.9
    max_epochs: int = 20
    lr: float = 0.003
    seeds: tuple[int, ...] = (0, 1, 2)  # each seed trains from scratch; time to quality is their mean


#: what one training run of an architecture records (trial; search's trials)
TRIAL = declare(
    ("trial.accuracy", "the trial's accuracy on the evaluation split", True, "1"),
    ("trial.params", "the trial architecture's parameters", None),
    ("trial.mflops", "the trial architecture's MFLOPs per sample", None),
    ("trial.train_flops", "operations spent training the trial (3 x forward FLOPs x samples x epochs)", None),
    ("trial.wall_s", "the trial's wall time", False, "s"),
    ("trial.precision_bits", "numeric precision of the trial (AIPerf: not below 16)", None),
)
TRIAL |= column(TRIAL, {"trial.train_flops": ("train GFLOP", "{:.1f}", 1e-9), "trial.wall_s": ("trial s", "{:.1f}")})
TRIAL["trial.accuracy"] = replace(TRIAL["trial.accuracy"], rank=2)
#: what training to a target quality records (MLPerf Training's time to quality)
TO_QUALITY = declare(
    ("train.time_to_quality_s", "mean wall seconds to reach the target accuracy", False, "s"),
    ("train.time_to_quality_stdev_s", "spread of time to quality over seeds", False, "s"),
    ("train.time_to_quality_cv", "coefficient of variation of time to quality over seeds", False),
    ("train.epochs_to_quality", "mean epochs to reach the target", False),
    ("train.epochs_stdev", "spread of epochs to quality over seeds", False),
    ("train.reached", "share of seeds that reached the target", True, "1"),
    ("train.throughput_sps", "training samples per second", True),
    ("train.target_accuracy", "the target", None, "1"),
    ("train.seeds", "seeds trained", None),
)
TO_QUALITY |= column(
    TO_QUALITY,
    {
        "train.time_to_quality_s": ("TTQ s", "{:.2f}"),
        "train.time_to_quality_cv": ("TTQ cv", "{:.3f}"),
        "train.epochs_to_quality": ("epochs", "{:.1f}"),
        "train.throughput_sps": ("train samples/s", "{:.0f}"),
    },
)


def _augment(x: Any, gen: Any) -> Any:
    """Seeded augmentation: a random shift of up to one pixel and, for images, a random flip."""
    dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
    x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    if x.shape[1] == 3 and bool(torch.randint(0, 2, (1,), generator=gen)):
        x = torch.flip(x, dims=(-1,))
    return x


def train_epochs(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    lr: float,
    seed: int,
    augment: bool,
    on_epoch: Any = None,
    batch: int = 64,
    schedule: str = "constant",
) -> None:
    """AdamW over seeded shuffles; ``schedule="onecycle"`` anneals the rate over exactly ``epochs``
    (a trial's final accuracy then reflects its hyper-parameters, not where the last step landed)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(y) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps) if schedule == "onecycle" else None
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    for epoch in range(epochs):
        model.train()  # dropout on, drawn from torch's seeded generator
        order = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(yt), batch):
            idx = order[i : i + batch]
            xb = _augment(xt[idx], gen) if augment else xt[idx]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yt[idx]).backward()
            opt.step()
            if sched is not None:
                sched.step()
        model.eval()
        if on_epoch is not None and on_epoch(epoch + 1):
            return


class Trial:
    """One point of a hyper-parameter / architecture search: train, evaluate, count the operations."""

    name = "trial"

    @dataclass(frozen=True)
    class Params:
        epochs: int = 3
        lr: float = 0.01
        augment: bool = True  # random flips and crops of the training images
        schedule: str = "onecycle"  # onecycle or constant
        width: int | float | None = None  # overrides the zoo family's width (None: the card's)
        depth: int | float | None = None  # overrides the zoo family's depth (None: the card's)

    provides = TRIAL
    learns = True  # seeds: N runs it over N seeds (run.seeds)

    def run(self, ctx: ParadigmContext) -> Measurement:
        family, config = architecture(ctx)
        p = ctx.param
        config.update({k: p(k) for k in ("width", "depth") if p(k) is not None})
        epochs, lr = int(p("epochs")), float(p("lr"))
        data = ctx.dataset
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        t0 = time.perf_counter()
        with deterministic(ctx.seed):
            model = build_module(family, config)
            shape = (1, *data.x_train.shape[1:])
            fwd = count_flops(model, shape)
            train_epochs(
                model,
                data.x_train,
                data.y_train,
                epochs,
                lr,
                ctx.seed,
                augment=bool(p("augment")),
                schedule=str(p("schedule")),
            )
            preds = predict(model, x_eval)[0]
            params = int(sum(t.numel() for t in model.parameters()))
        wall = time.perf_counter() - t0
        m = Measurement(predictions=preds, labels=y_eval, seed=ctx.seed)
        m.metrics.update(
            {
                "trial.accuracy": float((preds == y_eval).mean()),
                "trial.params": params,
                "trial.mflops": fwd / 1e6,
                "trial.train_flops": 3 * fwd * len(data.y_train) * epochs,
                "trial.wall_s": wall,
                "trial.precision_bits": QUANTIZATIONS.get(ctx.case.quantization).bits,
            }
        )
        m.info.update(
            {
                "trial": {
                    "family": family,
                    "config": config,
                    "epochs": epochs,
                    "lr": lr,
                    "schedule": str(p("schedule")),
                },
                "prediction_hash": prediction_hash(preds),
            }
        )
        return m


def _trained_path(ctx: ParadigmContext) -> Path:
    folder = Path(ctx.item_dir).parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"trained-{ctx.case.suite_name}-{ctx.case.model}.pt"


class _QualityWatch:
    """Called after each epoch: evaluates, remembers when the target was first reached, stops there."""

    def __init__(self, model: Any, x_eval: np.ndarray, y_eval: np.ndarray, target: float):
        self.model, self.x_eval, self.y_eval, self.target = model, x_eval, y_eval, target
        self.t0 = time.perf_counter()
        self.reached: dict[str, Any] = {}

    def __call__(self, epoch: int) -> bool:
        acc = float((predict(self.model, self.x_eval)[0] == self.y_eval).mean())
        if acc >= self.target and "epochs" not in self.reached:
            self.reached.update(epochs=epoch, seconds=time.perf_counter() - self.t0, accuracy=acc)
        self.reached["last"] = (epoch, acc)
        return acc >= self.target

    def summary(self, seed: int, samples: int) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        r = self.reached
        return {
            "seed": seed,
            "reached": "epochs" in r,
            "epochs": r.get("epochs"),
            "seconds": r.get("seconds"),
            "final_accuracy": r["last"][1],
            "samples_per_s": r["last"][0] * samples / wall,
        }


class TrainToQuality:
    """Train from a seeded start until ``target_accuracy`` on the evaluation split, for each seed."""

    name = "train_to_quality"

    Params = ToQualityParams
    provides = TO_QUALITY

    def run(self, ctx: ParadigmContext) -> Measurement:
        family, config = architecture(ctx)
        p = ctx.param
        target, max_epochs, lr = float(p("target_accuracy")), int(p("max_epochs")), float(p("lr"))
        seeds = [int(s) for s in p("seeds")]
        data = ctx.dataset
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        runs, first_model = [], None
        for seed in seeds:
            with deterministic(seed):
                model = build_module(family, config)
                watch = _QualityWatch(model, x_eval, y_eval, target)
                train_epochs(model, data.x_train, data.y_train, max_epochs, lr, seed, augment=True, on_epoch=watch)
                runs.append(watch.summary(seed, len(data.y_train)))
                if first_model is None:
                    first_model = model
                    torch.save(model.state_dict(), _trained_path(ctx))
        ok = [r for r in runs if r["reached"]]
        ttq = [r["seconds"] for r in ok]
        preds = predict(first_model, x_eval)[0]
        m = Measurement(predictions=preds, labels=y_eval, seed=ctx.seed)
        m.metrics.update(
            {
                "train.target_accuracy": target,
                "train.seeds": len(runs),
                "train.reached": len(ok) / len(runs),
                "train.time_to_quality_s": statistics.fmean(ttq) if ttq else -1.0,
                "train.time_to_quality_stdev_s": statistics.stdev(ttq) if len(ttq) > 1 else 0.0,
                "train.time_to_quality_cv": statistics.stdev(ttq) / statistics.fmean(ttq) if len(ttq) > 1 else 0.0,
                "train.epochs_to_quality": statistics.fmean(r["epochs"] for r in ok) if ok else -1.0,
                "train.epochs_stdev": statistics.stdev([r["epochs"] for r in ok]) if len(ok) > 1 else 0.0,
                "train.throughput_sps": statistics.fmean(r["samples_per_s"] for r in runs),
            }
        )
        m.info.update(
            {
                "runs": runs,
                "trained_model": str(_trained_path(ctx)),
                "prediction_hash": prediction_hash(preds),
                "seeded": "initialisation, data order, augmentation and dropout, per seed",
            }
        )
        return m


class ServeTrained:
    """Serve the model train_to_quality trained earlier in this run (or train it here, identically,
    when that item ran elsewhere), measured like any inference item."""

    name = "serve_trained"

    Params = ToQualityParams
    provides = TO_QUALITY

    def run(self, ctx: ParadigmContext) -> Measurement:
        family, config = architecture(ctx)
        path = _trained_path(ctx)
        origin = "trained by this run's train_to_quality item"
        if not path.is_file():
            TrainToQuality().run(replace(ctx, params={**ctx.params, "seeds": [0]}, fresh_session=None))
            origin = "trained here (the train_to_quality item had not run in this process)"
        model = build_module(family, config)
        try:
            model.load_state_dict(torch.load(path, weights_only=True))
        except Exception as exc:  # noqa: BLE001
            raise ArtifactError(f"cannot load the trained model {path}: {exc}") from None
        model.eval()
        if not isinstance(ctx.session, ServesModule):
            raise NotAvailable(f"serve_trained serves through a torch session; {ctx.case.framework!r} has none")
        ctx.session.replace_module(model)  # the trained weights, through the prepared torch session
        m = SingleNode().run(ctx)
        m.info["served"] = {"model": str(path), "origin": origin}
        return m
