"""``python -m pytest_aibench.zoo build [NAME ...]``: train each zoo model on its dataset's training
split, export every variant, measure each variant's accuracy, and write the model card with sha256s.

Training is seeded and single-threaded with deterministic algorithms, so a rebuild reproduces the
same weights and accuracy. Needs the build-time extras (torch, onnx, onnxruntime, onnxconverter-common).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset, materialize
from ..files import sha256_file
from ..manifest.model import DatasetSpec
from ..runtimes import version_of
from . import build_module
from .recipes import RECIPES, Recipe


def _log(msg: str) -> None:
    print(f"[aibench build] {msg}", flush=True)


def dataset_for(recipe: Recipe) -> Dataset:
    d = recipe.dataset
    return materialize(DatasetSpec(name=d["source"], source=d["source"], eval_fraction=d.get("eval_fraction", 0.25),
                                   split_seed=d.get("split_seed", 0), params=d.get("params", {})))


def train(recipe: Recipe, data: Dataset) -> Any:
    import torch  # noqa: PLC0415

    torch.manual_seed(recipe.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    model = build_module(recipe.family, recipe.config)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs *
                                                ((len(data.y_train) + recipe.batch_size - 1) // recipe.batch_size))
    x = torch.from_numpy(data.x_train)
    y = torch.from_numpy(data.y_train)
    gen = torch.Generator().manual_seed(recipe.seed)
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for i in range(0, len(y), recipe.batch_size):
            idx = order[i:i + recipe.batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.detach().item() * len(idx)
        if epoch % 10 == 9 or epoch == recipe.epochs - 1:
            _log(f"{recipe.name}: epoch {epoch + 1}/{recipe.epochs} loss {total / len(y):.4f}")
    model.eval()
    return model


def accuracy_of(predict: Any, data: Dataset, batch: int = 256) -> float:
    preds = np.concatenate([predict(data.x_eval[i:i + batch]).argmax(-1) for i in range(0, len(data.y_eval), batch)])
    return float((preds == data.y_eval).mean())


def count_flops(model: Any, shape: tuple[int, ...]) -> int:
    import torch  # noqa: PLC0415
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(shape))
    return int(counter.get_total_flops())


class _Calibration:
    """onnxruntime.quantization CalibrationDataReader over the train split."""

    def __init__(self, name: str, x: np.ndarray, n: int = 256):
        self._it = iter([{name: x[i:i + 1]} for i in range(min(n, len(x)))])

    def get_next(self) -> dict | None:
        return next(self._it, None)


def export(recipe: Recipe, model: Any, data: Dataset, out: Path) -> dict[str, dict[str, Any]]:
    """Write every variant of ``recipe``; return the card's artifacts section."""
    import torch  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    arts: dict[str, dict[str, Any]] = {}
    example = torch.from_numpy(data.x_train[:1])
    if "torch/fp32" in recipe.variants:
        torch.save(model.state_dict(), out / "model.pt")
        arts["torch/fp32"] = {"file": "model.pt", "format": "pt"}
    onnx_fp32 = out / "model.onnx"
    if any(v.startswith("onnxruntime/") for v in recipe.variants):
        torch.onnx.export(model, (example,), str(onnx_fp32), input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        arts["onnxruntime/fp32"] = {"file": onnx_fp32.name, "format": "onnx"}
    if "onnxruntime/int8" in recipe.variants:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static  # noqa: PLC0415
        from onnxruntime.quantization.shape_inference import quant_pre_process  # noqa: PLC0415

        pre = out / "model.pre.onnx"
        quant_pre_process(str(onnx_fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out / "model.int8.onnx"), _Calibration("input", data.x_train),
                        quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8)
        pre.unlink()
        arts["onnxruntime/int8"] = {"file": "model.int8.onnx", "format": "onnx",
                                    "method": "onnxruntime quantize_static, QDQ, per-channel, 256 train samples"}
    if "onnxruntime/int8_dynamic" in recipe.variants:
        from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

        quantize_dynamic(str(onnx_fp32), str(out / "model.int8_dynamic.onnx"), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"])
        arts["onnxruntime/int8_dynamic"] = {"file": "model.int8_dynamic.onnx", "format": "onnx",
                                            "method": "onnxruntime quantize_dynamic on MatMul/Gemm"}
    if "onnxruntime/fp16" in recipe.variants:
        import onnx  # noqa: PLC0415
        from onnxconverter_common import float16  # noqa: PLC0415

        half = float16.convert_float_to_float16(onnx.load(str(onnx_fp32)), keep_io_types=True)
        onnx.save(half, str(out / "model.fp16.onnx"))
        arts["onnxruntime/fp16"] = {"file": "model.fp16.onnx", "format": "onnx",
                                    "method": "onnxconverter-common float16, float32 I/O"}
    return arts


def _accuracies(recipe: Recipe, model: Any, data: Dataset, out: Path, arts: dict[str, dict[str, Any]]) -> None:
    import torch  # noqa: PLC0415

    for key, art in arts.items():
        framework = key.split("/")[0]
        if framework == "torch":
            with torch.no_grad():
                art["accuracy"] = accuracy_of(lambda b: model(torch.from_numpy(b)).numpy(), data)
        elif framework == "onnxruntime":
            import onnxruntime as ort  # noqa: PLC0415

            sess = ort.InferenceSession(str(out / art["file"]), providers=["CPUExecutionProvider"])
            art["accuracy"] = accuracy_of(lambda b: sess.run(None, {"input": b})[0], data)


def build(name: str, root: Path) -> dict[str, Any]:
    recipe = RECIPES[name]
    t0 = time.perf_counter()
    data = dataset_for(recipe)
    _log(f"{name}: training {recipe.family} on {data.name} ({len(data.y_train)} train / {len(data.y_eval)} eval)")
    model = train(recipe, data)
    out = root / name
    arts = export(recipe, model, data, out)
    _accuracies(recipe, model, data, out, arts)
    for art in arts.values():
        art["sha256"] = sha256_file(out / art["file"])
        art["size_bytes"] = (out / art["file"]).stat().st_size
    shape = tuple(1 if d is None else d for d in recipe.input_shape)
    card = {
        "name": name, "family": recipe.family, "config": recipe.config,
        "params": int(sum(p.numel() for p in model.parameters())),
        "flops": count_flops(model, shape), "mflops": round(count_flops(model, shape) / 1e6, 4),
        "input": {"name": "input", "shape": list(recipe.input_shape), "layout": "NCHW", "dtype": "float32"},
        "dataset": {**recipe.dataset, "sha256": data.content_hash, "train": int(len(data.y_train)),
                    "eval": int(len(data.y_eval))},
        "training": {"epochs": recipe.epochs, "batch_size": recipe.batch_size, "lr": recipe.lr,
                     "weight_decay": recipe.weight_decay, "seed": recipe.seed, "optimizer": "AdamW + OneCycleLR",
                     "deterministic": True, "threads": 1},
        "accuracy": {k: v["accuracy"] for k, v in arts.items()},
        "tools": {"python": platform.python_version(), **{d: version_of(d) for d in
                  ("torch", "onnx", "onnxruntime", "onnxconverter-common", "numpy")}},
        "artifacts": arts,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (out / "SHA256SUMS").write_text("".join(f"{a['sha256']}  {a['file']}\n" for a in arts.values()))
    _log(f"{name}: done in {time.perf_counter() - t0:.1f} s; accuracy " +
         ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in arts.items()))
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_aibench.zoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="train and export zoo models")
    b.add_argument("names", nargs="*", help=f"models to build (default: all of {', '.join(RECIPES)})")
    b.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "fixtures" / "models")
    sub.add_parser("list", help="list the zoo's recipes")
    args = parser.parse_args(argv)
    if args.cmd == "list":
        for r in RECIPES.values():
            print(f"{r.name}: {r.family} {r.config} on {r.dataset['source']}; variants {', '.join(r.variants)}")
        return 0
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        parser.error(f"unknown zoo model(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    for name in args.names or list(RECIPES):
        build(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
