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
from typing import Any

import numpy as np

from ..data import Dataset, materialize
from ..files import sha256_file
from ..manifest.model import DatasetSpec, InputSpec, Settings
from ..runtimes import version_of
from . import build_module
from .export import EXPORTERS, ExportSkipped
from .recipes import RECIPES, Recipe

#: resolutions whose FLOPs the card records (VOPS uses the one an item runs at)
FLOP_RESOLUTIONS = (32, 48, 64, 96, 128, 160, 224)


from ..progress import Progress

PROGRESS = Progress(sys.stdout, prefix="[aibench build] ")


def _log(msg: str) -> None:
    PROGRESS.note(msg)


def dataset_spec(recipe: Recipe, size: int | None = None) -> DatasetSpec:
    d = recipe.dataset
    params = dict(d.get("params", {}))
    if size is not None:
        params["size"] = size
    return DatasetSpec(name=d["source"], source=d["source"], eval_fraction=d.get("eval_fraction", 0.25),
                       split_seed=d.get("split_seed", 0), params=params)


def datasets_for(recipe: Recipe) -> list[Dataset]:
    """The recipe's dataset at each training resolution (the base first)."""
    if not recipe.resolutions:
        return [materialize(dataset_spec(recipe))]
    return [materialize(dataset_spec(recipe, r)) for r in recipe.resolutions]


def train(recipe: Recipe, data: list[Dataset]) -> Any:
    """AdamW + one-cycle, seeded shuffles; batches alternate between the training resolutions."""
    import torch  # noqa: PLC0415

    torch.manual_seed(recipe.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(recipe.threads)
    model = build_module(recipe.family, recipe.config)
    steps_per_epoch = (len(data[0].y_train) + recipe.batch_size - 1) // recipe.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
    xs = [torch.from_numpy(d.x_train) for d in data]
    y = torch.from_numpy(data[0].y_train)
    gen = torch.Generator().manual_seed(recipe.seed)
    step = 0
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for i in range(0, len(y), recipe.batch_size):
            idx = order[i:i + recipe.batch_size]
            x = xs[step % len(xs)]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            total += loss.detach().item() * len(idx)
            PROGRESS.update(f"{recipe.name}: epoch {epoch + 1}/{recipe.epochs}, batch {i // recipe.batch_size + 1}/"
                            f"{steps_per_epoch}, loss {loss.detach().item():.4f}")
        if epoch % 5 == 4 or epoch == recipe.epochs - 1:
            _log(f"{recipe.name}: epoch {epoch + 1}/{recipe.epochs} loss {total / len(y):.4f}")
    model.eval()
    return model


def count_flops(model: Any, shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass at ``shape``: the model's own analytic count where it has one (fused
    kernels such as LSTM hide their work from torch's counter), else torch's FLOP counter."""
    if hasattr(model, "analytic_flops"):
        return int(model.analytic_flops(shape))
    import torch  # noqa: PLC0415
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(shape))
    return int(counter.get_total_flops())


def predictions(session: Any, data: Dataset, batch: int = 128) -> np.ndarray:
    x = session.adapt(data.x_eval)
    return np.concatenate([session.infer(x[i:i + batch]).argmax(-1) for i in range(0, len(x), batch)])


def _measure_variants(recipe: Recipe, out: Path, arts: dict[str, dict[str, Any]], data: Dataset,
                      input_spec: InputSpec, skipped: dict[str, str]) -> None:
    """Each variant's accuracy on the base evaluation split, through the suites' own runners."""
    from ..artifact import ModelArtifact  # noqa: PLC0415
    from ..node import Node  # noqa: PLC0415
    from ..registry import RUNNERS  # noqa: PLC0415

    for key, art in list(arts.items()):
        framework, quantization = key.split("/")
        artifact = ModelArtifact(recipe.name, framework, quantization, quantization, art["format"], out / art["file"],
                                 None, input_spec, recipe.family, recipe.config)
        try:
            session = RUNNERS.get(framework).prepare(artifact, Node(threads=2), Settings())
            try:
                art["accuracy"] = round(float((predictions(session, data) == data.y_eval).mean()), 6)
            finally:
                session.close()
        except Exception as exc:  # a variant its own runtime cannot run is not shipped
            skipped[key] = f"built, but {framework} cannot run it: {exc}"
            _log(f"{recipe.name}: dropped {key}: {exc}")
            del arts[key]
            if not any(a["file"] == art["file"] for a in arts.values()):
                (out / art["file"]).unlink(missing_ok=True)


def build(name: str, root: Path, only: tuple[str, ...] = ()) -> dict[str, Any]:
    import torch  # noqa: PLC0415

    recipe = RECIPES[name]
    t0 = time.perf_counter()
    data = datasets_for(recipe)
    base = data[0]
    res = "" if not recipe.resolutions else f" at {'/'.join(map(str, recipe.resolutions))} px"
    _log(f"{name}: training {recipe.family} on {base.name}{res} ({len(base.y_train)} train / {len(base.y_eval)} eval)")
    model = train(recipe, data)
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("model*"):
        stale.unlink()
    arts: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for key in recipe.variants:
        if only and key not in only:
            continue
        PROGRESS.update(f"{name}: exporting {key}")
        try:
            arts[key] = EXPORTERS[key](model, recipe, base.x_train, out)
        except ExportSkipped as exc:
            skipped[key] = str(exc)
            _log(f"{name}: skipped {key}: {exc}")
    input_spec = InputSpec(shape=tuple(recipe.input_shape), name="input", layout=recipe.layout, dtype="float32")
    _measure_variants(recipe, out, arts, base, input_spec, skipped)
    reference_acc = arts.get("torch/fp32", {}).get("accuracy")
    for key, art in list(arts.items()):
        if reference_acc is not None and art["accuracy"] < reference_acc - recipe.max_accuracy_drop:
            skipped[key] = (f"built, but its accuracy {art['accuracy']:.4f} is more than {recipe.max_accuracy_drop} "
                            f"below fp32's {reference_acc:.4f} ({art.get('method', '')}): not shipped")
            _log(f"{name}: dropped {key}: {skipped[key]}")
            del arts[key]
            if not any(a["file"] == art["file"] for a in arts.values()):
                (out / art["file"]).unlink(missing_ok=True)
    for art in arts.values():
        art["sha256"] = sha256_file(out / art["file"])
        art["size_bytes"] = (out / art["file"]).stat().st_size
    # the fp32 model's own predictions on every evaluation split it was built for: accuracy loss and
    # agreement of any variant are then exact on any subset an item evaluates
    reference = {}
    with torch.no_grad():
        for d in data:
            reference[d.content_hash] = np.concatenate(
                [model(torch.from_numpy(d.x_eval[i:i + 256])).argmax(-1).numpy() for i in range(0, len(d.y_eval), 256)]
            ).astype(np.int16)
    np.savez_compressed(out / "reference.npz", **reference)
    shape = tuple(1 if d is None else d for d in recipe.input_shape)
    flops = {str(shape[-1]): count_flops(model, shape)}
    if recipe.resizable:
        flops = {str(r): count_flops(model, (*shape[:2], r, r)) for r in FLOP_RESOLUTIONS}
    card = {
        "name": name, "family": recipe.family, "config": recipe.config,
        "params": int(sum(p.numel() for p in model.parameters())),
        "flops": flops, "mflops": round(flops[str(shape[-1])] / 1e6, 4),
        "input": {"name": "input", "shape": list(recipe.input_shape), "layout": recipe.layout, "dtype": "float32",
                  "resizable": recipe.resizable},
        "dataset": {**recipe.dataset, "sha256": base.content_hash, "train": int(len(base.y_train)),
                    "eval": int(len(base.y_eval)), "resolutions": list(recipe.resolutions),
                    "eval_sha256": {str(d.x_eval.shape[-1]): d.content_hash for d in data}},
        "training": {"epochs": recipe.epochs, "batch_size": recipe.batch_size, "lr": recipe.lr,
                     "weight_decay": recipe.weight_decay, "seed": recipe.seed, "optimizer": "AdamW + OneCycleLR",
                     "deterministic": True, "threads": recipe.threads, "resolutions": list(recipe.resolutions)},
        "accuracy": {k: v["accuracy"] for k, v in arts.items()},
        "reference": {"file": "reference.npz", "sha256": sha256_file(out / "reference.npz"),
                      "what": "fp32 torch predictions on the evaluation split, keyed by dataset sha256"},
        "tools": {"python": platform.python_version(), **{d: version_of(d) for d in
                  ("torch", "torchao", "onnx", "onnxruntime", "onnxconverter-common", "litert-torch",
                   "ai-edge-quantizer", "ai-edge-litert", "numpy")}},
        "artifacts": arts,
        "skipped": skipped,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    files = sorted([a["file"] for a in arts.values()] + ["reference.npz"])
    (out / "SHA256SUMS").write_text("".join(f"{sha256_file(out / f)}  {f}\n" for f in files))
    _log(f"{name}: done in {time.perf_counter() - t0:.0f} s; " +
         ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in arts.items()))
    return card


def cards_table() -> str:
    """Markdown: one row per built zoo model, accuracy per variant on its evaluation split."""
    from .cards import CardError, find_card  # noqa: PLC0415

    variants = [v.split("/") for v in ("torch/fp32", "torch/int8", "onnxruntime/fp32", "onnxruntime/int8",
                                       "onnxruntime/int8_dynamic", "onnxruntime/fp16", "litert/fp32", "litert/int8",
                                       "litert/int8_dynamic", "litert/fp16")]
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
        cells = [f"`{name}`", f"{card.data['params'] / 1e3:.1f}k", f"{card.data['mflops']:.2f}",
                 *(f"{acc[f'{f}/{q}']:.3f}" if f"{f}/{q}" in acc else "—" for f, q in variants), f"{size:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_aibench.zoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="train and export zoo models")
    b.add_argument("names", nargs="*", help=f"models to build (default: all of {', '.join(RECIPES)})")
    b.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "fixtures" / "models")
    b.add_argument("--only", action="append", default=[], metavar="FRAMEWORK/QUANT",
                   help="export only these variants (repeatable)")
    b.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs (for quick checks)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub.add_parser("list", help="list the zoo's recipes")
    sub.add_parser("cards", help="a Markdown table of the built models, from their cards")
    args = parser.parse_args(argv)
    if args.cmd == "cards":
        print(cards_table())
        return 0
    if args.cmd == "list":
        for r in RECIPES.values():
            print(f"{r.name}: {r.family} {r.config} on {r.dataset['source']}; variants {', '.join(r.variants)}")
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
        build(name, args.out, tuple(args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
