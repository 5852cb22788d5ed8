"""``python -m pytest_aibench.zoo build [NAME ...]``: train each zoo model on its dataset's training
split, export every variant, measure each variant's accuracy with the project's own runners, and
write the model card with sha256s and the fp32 reference predictions.

Training is seeded with deterministic algorithms, so a rebuild reproduces the same accuracy.
Needs the build extra (``pip install -e '.[all,build]'``): torch, onnx, onnxruntime,
onnxconverter-common, torchao, litert-torch. A variant whose tool is missing is skipped and noted.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench import tasks
from pytest_aibench._lazy import lazy
from pytest_aibench.artifact import ModelArtifact
from pytest_aibench.builder import cache, isa_check
from pytest_aibench.builder.export import EXPORTERS, ExportSkipped
from pytest_aibench.builder.judging import _stored, lower_is_better, predictions, quality, task_hash
from pytest_aibench.builder.recipes import RECIPES, Recipe, datasets_for
from pytest_aibench.builder.training import train
from pytest_aibench.core.model import InputSpec, Settings
from pytest_aibench.data import Dataset
from pytest_aibench.files import PACKAGE_ROOT, sha256_file, shipped
from pytest_aibench.isa import describe
from pytest_aibench.machine import cpu_summary
from pytest_aibench.progress import Progress
from pytest_aibench.runtimes import RUNNERS, version_of
from pytest_aibench.sim.node import Node
from pytest_aibench.zoo import count_flops
from pytest_aibench.zoo.cards import CardError, find_card

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")

#: the distributions whose versions decide a build's bytes (recorded in each card)
BUILD_TOOLS = (
    "torch",
    "torchao",
    "onnx",
    "onnxruntime",
    "onnxconverter-common",
    "litert-torch",
    "ai-edge-quantizer",
    "ai-edge-litert",
    "numpy",
)
#: resolutions whose FLOPs the card records (VOPS uses the one an item runs at)
FLOP_RESOLUTIONS = (32, 48, 64, 96, 128, 160, 224)


PROGRESS = Progress(sys.stdout, prefix="[aibench build] ")


def models_root() -> Path:
    """Where ``find_card`` reads shipped cards: a rebuild must land there, or it silently changes nothing."""
    try:
        return shipped("models")
    except FileNotFoundError:
        return PACKAGE_ROOT.parent / "fixtures" / "models"


def _log(msg: str) -> None:
    PROGRESS.note(msg)


def _drop(out: Path, arts: dict[str, dict[str, Any]], skipped: dict[str, str], key: str, why: str) -> None:
    """Do not ship ``key``: its reason goes on the card, its file goes unless another variant shares it."""
    art = arts.pop(key)
    skipped[key] = why
    _log(f"{out.name}: dropped {key}: {why}")
    if not any(a["file"] == art["file"] for a in arts.values()):
        (out / art["file"]).unlink(missing_ok=True)


def _measure_variants(
    recipe: Recipe,
    out: Path,
    arts: dict[str, dict[str, Any]],
    data: Dataset,
    input_spec: InputSpec,
    skipped: dict[str, str],
) -> dict[str, np.ndarray]:
    """Each variant's accuracy on the base evaluation split, through the suites' own runners, on this
    machine; returns each variant's predictions."""

    preds: dict[str, np.ndarray] = {}
    for key, art in list(arts.items()):
        framework, quantization = key.split("/")
        artifact = ModelArtifact(
            recipe.name,
            framework,
            quantization,
            quantization,
            art["format"],
            out / art["file"],
            None,
            input_spec,
            recipe.family,
            recipe.config,
        )
        try:
            session = RUNNERS.get(framework).prepare(artifact, Node(threads=2), Settings())
            try:
                preds[key] = predictions(session, data, task=recipe.task)
            finally:
                session.close()
        except Exception as exc:  # a variant its own runtime cannot run is not shipped
            _drop(out, arts, skipped, key, f"built, but {framework} cannot run it: {exc}")
            continue
        art["accuracy"] = round(quality(recipe, preds[key], data), 6)
        # a run of the same variant on the same split reports the same hash (info.prediction_hash)
        art["predictions_sha256"] = task_hash(recipe, preds[key])
    return preds


def _emulated(isa: list[str] | None) -> dict[str, Any] | None:
    """The emulated CPU the AVX2 check ran on (None: it ran on this CPU, kernels capped)."""
    if isa is None:
        return None
    return {
        "cpu": f"qemu-x86_64 -cpu {isa_check.CPU_MODEL} (AMD EPYC, Zen 1)",
        "isa": isa,
        "isa_described": describe(isa),
        "emulator": isa_check.emulator_version(),
    }


def _isa_check(
    recipe: Recipe,
    out: Path,
    arts: dict[str, dict[str, Any]],
    data: Dataset,
    preds: dict[str, np.ndarray],
    skipped: dict[str, str],
    samples: int,
) -> dict[str, Any]:
    """Run every variant again on its runtime's AVX2 code paths (first ``samples`` evaluation samples;
    see ``isa_check``) and compare its predictions with this machine's. A variant that promises
    identical predictions on every ISA and breaks it, or that falls more than ``max_accuracy_drop``
    below fp32 there, is not shipped."""

    native = cpu_summary()
    if samples <= 0:
        return {"native": native, "why": "not checked (--isa-samples 0)"}
    if tasks.is_dense(recipe.task):
        return {"native": native, "why": f"not checked: the check compares class predictions, not {recipe.task}'s"}
    n = min(samples, len(data.y_eval))
    PROGRESS.update(f"{recipe.name}: running {len(arts)} variants on AVX2 code paths ({n} samples)")
    variants = isa_check.variants_of(
        {
            "artifacts": arts,
            "family": recipe.family,
            "config": recipe.config,
            "input": {
                "shape": list(recipe.input_shape),
                "layout": recipe.layout,
                "resizable": recipe.resizable,
                "name": "input",
            },
        },
        out,
    )
    scores, how, isa = isa_check.avx2(variants, data.x_eval[:n])
    y = data.y_eval[:n]
    fp32 = preds.get("torch/fp32")
    floor = float((fp32[:n] == y).mean()) - recipe.max_accuracy_drop if fp32 is not None else None
    checked: dict[str, Any] = {}
    for key in list(arts):
        if key not in scores:
            checked[key] = {"checked": f"no: {isa_check.INSTALL_HINT}"}
            continue
        got = scores[key].argmax(-1)
        differing = int((got != preds[key][:n]).sum())
        acc = round(float((got == y).mean()), 6)
        checked[key] = {
            "checked": how[key],
            "identical": differing == 0,
            "differing_samples": differing,
            "accuracy_here": round(float((preds[key][:n] == y).mean()), 6),
            "accuracy_avx2": acc,
        }
        if arts[key]["isa"]["portable"] and differing:
            _drop(
                out,
                arts,
                skipped,
                key,
                f"promises identical predictions on every ISA, but {differing} of {n} "
                f"differ on AVX2 code paths ({how[key]}): not shipped",
            )
        elif floor is not None and acc < floor:
            _drop(
                out,
                arts,
                skipped,
                key,
                f"accuracy {acc:.4f} on AVX2 code paths ({how[key]}; {n} samples) is "
                f"more than {recipe.max_accuracy_drop} below fp32's: not shipped",
            )
    return {"native": native, "samples": n, "emulated": _emulated(isa), "variants": checked}


def _export(
    recipe: Recipe, model: Any, x_train: np.ndarray, out: Path, only: tuple[str, ...], skipped: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Every variant of the recipe (or those in ``only``) exported from the trained model."""
    for stale in out.glob("model*"):
        stale.unlink()
    arts: dict[str, dict[str, Any]] = {}
    for key in recipe.variants:
        if only and key not in only:
            continue
        PROGRESS.update(f"{recipe.name}: exporting {key}")
        try:
            arts[key] = EXPORTERS[key](model, recipe, x_train, out)
        except ExportSkipped as exc:
            skipped[key] = str(exc)
            _log(f"{recipe.name}: skipped {key}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a converter that cannot lower the graph: that variant only
            first = (str(exc).strip().splitlines() or [""])[-1][:300]
            skipped[key] = f"the converter failed: {type(exc).__name__}: {first}"
            _log(f"{recipe.name}: skipped {key}: {skipped[key]}")
    return arts


def _reference(model: Any, data: list[Dataset], out: Path) -> None:
    """The fp32 model's own predictions on every evaluation split it was built for: accuracy loss and
    agreement of any variant are then exact on any subset an item evaluates."""
    reference = {}
    with torch.no_grad():
        for d in data:
            reference[d.content_hash] = np.concatenate(
                [
                    model(torch.from_numpy(d.x_eval[i : i + 256])).argmax(-1).numpy()
                    for i in range(0, len(d.y_eval), 256)
                ]
            ).astype(np.int16)
    np.savez_compressed(out / "reference.npz", **reference)  # type: ignore[arg-type]


def _flops(recipe: Recipe, model: Any) -> tuple[dict[str, int], float]:
    shape = tuple(1 if d is None else d for d in recipe.input_shape)
    flops = {str(shape[-1]): count_flops(model, shape)}
    if recipe.resizable:
        flops = {str(r): count_flops(model, (*shape[:2], r, r)) for r in FLOP_RESOLUTIONS}
    return flops, round(flops[str(shape[-1])] / 1e6, 4)


def build(name: str, root: Path, only: tuple[str, ...] = (), isa_samples: int = 256) -> dict[str, Any]:
    """Train, export, measure (here and on AVX2 code paths) and write the model's folder and card."""
    recipe = RECIPES[name]
    t0 = time.perf_counter()
    data = datasets_for(recipe)
    base = data[0]
    res = "" if not recipe.resolutions else f" at {'/'.join(map(str, recipe.resolutions))} px"
    _log(f"{name}: training {recipe.family} on {base.name}{res} ({len(base.y_train)} train / {len(base.y_eval)} eval)")
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    model, kernels = train(recipe, out, PROGRESS.quiet)
    skipped: dict[str, str] = {}
    arts = _export(recipe, model, base.x_train, out, only, skipped)
    input_spec = InputSpec(shape=tuple(recipe.input_shape), name="input", layout=recipe.layout, dtype="float32")
    preds = _measure_variants(recipe, out, arts, base, input_spec, skipped)
    reference_acc = arts.get("torch/fp32", {}).get("accuracy")
    lower = lower_is_better(recipe)  # error rates (WER) drop upwards
    for key, art in list(arts.items()):
        loss = (art["accuracy"] - reference_acc) * (1 if lower else -1) if reference_acc is not None else 0.0
        if loss > recipe.max_accuracy_drop:
            _drop(
                out,
                arts,
                skipped,
                key,
                f"built, but its {'error' if lower else 'accuracy'} {art['accuracy']:.4f} on this CPU is more than "
                f"{recipe.max_accuracy_drop} {'above' if lower else 'below'} fp32's {reference_acc:.4f} "
                f"({art.get('method', '')}): not shipped",
            )
    isa = _isa_check(recipe, out, arts, base, preds, skipped, isa_samples)
    np.savez_compressed(out / "predictions.npz", **{k.replace("/", "__"): _stored(recipe, preds[k]) for k in arts})  # type: ignore[arg-type]
    for art in arts.values():
        art["sha256"] = sha256_file(out / art["file"])
        art["size_bytes"] = (out / art["file"]).stat().st_size
    if not tasks.is_dense(recipe.task):
        _reference(model, data, out)
    else:
        np.savez_compressed(out / "reference.npz")  # the fp32 headline on the card is the task's reference
    card = _card(recipe, model, data, arts, skipped, isa, kernels, out)
    _log(
        f"{name}: done in {time.perf_counter() - t0:.0f} s; "
        + ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in arts.items())
    )
    return card


def _card(
    recipe: Recipe,
    model: Any,
    data: list[Dataset],
    arts: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    isa: dict[str, Any],
    kernels: str,
    out: Path,
) -> dict[str, Any]:
    """The model card (and SHA256SUMS) written into ``out``."""
    base = data[0]
    flops, mflops = _flops(recipe, model)
    card = {
        "name": recipe.name,
        "family": recipe.family,
        "config": recipe.config,
        "params": int(sum(p.numel() for p in model.parameters())),
        "flops": flops,
        "mflops": mflops,
        "input": {
            "name": "input",
            "shape": list(recipe.input_shape),
            "layout": recipe.layout,
            "dtype": "float32",
            "resizable": recipe.resizable,
        },
        "dataset": {
            **recipe.dataset,
            "sha256": base.content_hash,
            "train": int(len(base.y_train)),
            "eval": int(len(base.y_eval)),
            "resolutions": list(recipe.resolutions),
            "eval_sha256": {str(d.x_eval.shape[-1]): d.content_hash for d in data},
        },
        "training": {
            "epochs": recipe.epochs,
            "batch_size": recipe.batch_size,
            "lr": recipe.lr,
            "weight_decay": recipe.weight_decay,
            "seed": recipe.seed,
            "optimizer": "AdamW (fused) + OneCycleLR",
            "deterministic": True,
            "threads": recipe.threads,
            "resolutions": list(recipe.resolutions),
            "kernels": kernels,
        },
        "task": recipe.task,
        # the task's headline per variant (top-1 accuracy for classification; see "quality_metric")
        "accuracy": {k: v["accuracy"] for k, v in arts.items()},
        "quality_metric": tasks.task_of(recipe.task).headline,
        # where those accuracies were measured: the instruction set picks the runtimes' kernels
        "measured_on": isa["native"],
        "isa_check": {k: v for k, v in isa.items() if k != "native"},
        "predictions": {
            "file": "predictions.npz",
            "sha256": sha256_file(out / "predictions.npz"),
            "what": "each variant's predictions on the base evaluation split measured here, keyed "
            "framework__quantization (int16 class ids; empty for another task: each artifact's predictions_sha256 "
            "is the hash of its decoded predictions)",
        },
        "reference": {
            "file": "reference.npz",
            "sha256": sha256_file(out / "reference.npz"),
            "what": "fp32 torch predictions on the evaluation split, keyed by dataset sha256 (empty for a "
            "task other than classification: its fp32 headline is the reference)",
        },
        "tools": {"python": platform.python_version(), **{d: version_of(d) for d in BUILD_TOOLS}},
        "artifacts": arts,
        "skipped": skipped,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    files = sorted({a["file"] for a in arts.values()} | {"reference.npz", "predictions.npz"})
    (out / "SHA256SUMS").write_text("".join(f"{sha256_file(out / f)}  {f}\n" for f in files))
    return card


def cards_table() -> str:
    """Markdown: one row per built zoo model, accuracy per variant on its evaluation split."""

    variants = [
        v.split("/")
        for v in (
            "torch/fp32",
            "torch/int8",
            "onnxruntime/fp32",
            "onnxruntime/int8",
            "onnxruntime/int8_dynamic",
            "onnxruntime/fp16",
            "litert/fp32",
            "litert/int8",
            "litert/int8_dynamic",
            "litert/fp16",
        )
    ]
    short = {"torch": "pt", "onnxruntime": "ort", "litert": "tfl", "int8_dynamic": "dyn8"}
    head = ["model", "params", "MFLOPs", *(f"{short[f]} {short.get(q, q)}" for f, q in variants), "MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in RECIPES:
        try:
            card = find_card(name)
        except CardError:
            continue
        acc = card.data.get("accuracy", {})
        size = sum(a.get("size_bytes", 0) for a in card.artifacts.values()) / 2**20
        cells = [
            f"`{name}`",
            f"{card.data['params'] / 1e3:.1f}k",
            f"{card.data['mflops']:.2f}",
            *(f"{acc[f'{f}/{q}']:.3f}" if f"{f}/{q}" in acc else "—" for f, q in variants),
            f"{size:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_aibench.zoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="train and export zoo models")
    b.add_argument(
        "names",
        nargs="*",
        help=f"models to build (default: all of {', '.join(RECIPES)}); a published-size "
        "model (resnet50, ...) is built into the cache, as on first use",
    )
    b.add_argument(
        "--out",
        type=Path,
        default=models_root(),
        help="where the built folders go (default: where the zoo reads cards, %(default)s)",
    )
    b.add_argument(
        "--only", action="append", default=[], metavar="FRAMEWORK/QUANT", help="export only these variants (repeatable)"
    )
    b.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs (for quick checks)")
    b.add_argument(
        "--isa-samples",
        type=int,
        default=256,
        metavar="N",
        help="evaluation samples each variant runs again on its runtime's AVX2 code paths (torch capped "
        "to AVX2, the others under qemu-x86_64 -cpu EPYC) to check it across instruction sets; "
        "0: skip the check (default 256)",
    )
    b.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub.add_parser("list", help="list the zoo's recipes")
    lk = sub.add_parser("lock", help="rebuild published-size models and pin their sha256s in the lock file")
    lk.add_argument("names", nargs="*", help="models to re-pin (default: all in the lock)")
    sub.add_parser("cards", help="a Markdown table of the built models, from their cards")
    args = parser.parse_args(argv)
    if args.cmd == "cards":
        print(cards_table())
        return 0
    if args.cmd == "list":
        for r in RECIPES.values():
            print(f"{r.name}: {r.family} {r.config} on {r.dataset['source']}; variants {', '.join(r.variants)}")
        return 0
    if args.cmd == "lock":
        names = args.names or list(cache.lock()["models"])
        cache.write_lock(names, cache.cache_root(), shipped(cache.LOCK), PROGRESS)
        return 0
    published = [n for n in args.names if cache.is_published(n)]
    for name in published:  # the published-size models: into the cache, checked against the lock
        cache.build(name, cache.cache_root(), PROGRESS, tuple(args.only) or None)
    args.names = [n for n in args.names if n not in published]
    if published and not args.names:
        return 0
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        parser.error(f"unknown zoo model(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    if getattr(args, "quiet", False):
        PROGRESS.quiet = True
    if args.epochs is not None:
        for n in list(RECIPES):
            RECIPES[n] = replace(RECIPES[n], epochs=args.epochs)
    for name in args.names or list(RECIPES):
        build(name, args.out, tuple(args.only), args.isa_samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
