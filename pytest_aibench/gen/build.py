"""Build the compact decoders the generation suites judge: trained on the procedural prompt language
(:mod:`pytest_aibench.data.prompts`), a small "edge" GPT-style model and a larger "cloud" Llama-style
one (RoPE, grouped-query attention, SwiGLU) whose quality really differs (additions with carries are
where the edge model fails). Written to ``fixtures/models/<name>/``: the torch state dict, the ONNX
decoder with past key/values, its dynamic-int8 twin, the card (exact match per variant) and SHA256SUMS.

``python -m pytest_aibench.gen.build [decoder-edge decoder-cloud] [--out fixtures/models]``"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.data import prompts
from pytest_aibench.files import sha256_file
from pytest_aibench.gen import arch, decoding, onnx_export
from pytest_aibench.gen.ort_decoder import OrtDecoderSession
from pytest_aibench.gen.torch_decoder import TorchDecoder
from pytest_aibench.machine import cpu_summary
from pytest_aibench.versions import version_of

torch = lazy("torch")
ort = lazy("onnxruntime")
quantization = lazy("onnxruntime.quantization")

#: name -> (family, config, training steps, learning rate)
DECODERS: dict[str, tuple[str, dict[str, Any], int, float]] = {
    "decoder-edge": (
        "gpt",
        {"vocab": len(prompts.VOCAB), "context": 64, "width": 48, "layers": 2, "heads": 2},
        3000,
        4e-3,
    ),
    "decoder-cloud": (
        "llama",
        {"vocab": len(prompts.VOCAB), "context": 64, "width": 96, "layers": 3, "heads": 4, "kv_heads": 2, "mlp": 256},
        4000,
        3e-3,
    ),
}
#: the evaluation set every card reports (the suites' default prompts)
EVAL: dict[str, Any] = {"source": "prompts", "params": {"samples": 200, "seed": 1}}
TRAIN_SEED, BATCH, WIDTH = 1234, 64, 64


def _batches(rng: np.random.Generator, steps: int) -> Any:
    """Endless mixed batches: bare problems and few-shot prompts of several contexts."""
    for step in range(steps):
        context = int(rng.choice([0, 0, 24, 40, 56]))
        x, _, answers = prompts.generate(int(rng.integers(2**31)), BATCH, context=context)
        yield step, prompts.sequences(x, answers, WIDTH)


def train(family: str, config: dict[str, Any], steps: int, lr: float) -> Any:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = arch.gpt(**config) if family == "gpt" else arch.llama(**config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(TRAIN_SEED)
    t0 = time.perf_counter()
    for step, (rows, mask) in _batches(rng, steps):
        ids, m = torch.from_numpy(rows), torch.from_numpy(mask)
        logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits[m[:, :-1]], ids[:, 1:][m[:, :-1]])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 500 == 0:
            print(f"  step {step} loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return model.eval()


def exact_match(dec: decoding.Decoder, x: np.ndarray, answers: list[str]) -> float:
    hits = [decoding.greedy(dec, decoding.prompt_ids(row), 8).text == a for row, a in zip(x, answers, strict=True)]
    return float(np.mean(hits))


ORT_VARIANTS = (
    ("onnxruntime/fp32", "model.onnx", "torch.onnx.export opset 17 with past key/values"),
    ("onnxruntime/int8_dynamic", "model.int8_dynamic.onnx", "onnxruntime quantize_dynamic MatMul/Gemm, 7-bit weights"),
    ("onnxruntime/int4_weight", "model.int4_weight.onnx", "onnxruntime MatMulNBits quantizer, 4-bit blocks of 32"),
)


def build(name: str, out: Path, keep_weights: bool = False) -> dict[str, Any]:
    """Train (or, ``keep_weights``, load the folder's model.pt), export every variant, judge each, write
    the card and SHA256SUMS."""
    family, config, steps, lr = DECODERS[name]
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if keep_weights:
        model = arch.gpt(**config) if family == "gpt" else arch.llama(**config)
        model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
        model.eval()
    else:
        print(f"{name}: training {family} {config} for {steps} steps", flush=True)
        model = train(family, config, steps, lr)
        torch.save(model.state_dict(), folder / "model.pt")
        onnx_export.export_onnx(model, folder / "model.onnx")
        quantization.quantize_dynamic(
            str(folder / "model.onnx"), str(folder / "model.int8_dynamic.onnx"),
            weight_type=quantization.QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"], reduce_range=True,
        )  # fmt: skip
    onnx_export.quantize_int4(folder / "model.onnx", folder / "model.int4_weight.onnx")
    x, _, answers = prompts.generate(EVAL["params"]["seed"], EVAL["params"]["samples"])

    class _Artifact:  # what OrtDecoderSession reads of an artifact
        def __init__(self, path: Path):
            self.path, self.config = path, config

    variants: dict[str, dict[str, Any]] = {}
    dec: Any = TorchDecoder(model, torch.float32)
    variants["torch/fp32"] = {
        "file": "model.pt",
        "format": "pt",
        "method": "trained state dict",
        "accuracy": exact_match(dec, x, answers),
    }
    for key, file, method in ORT_VARIANTS:
        sess = ort.InferenceSession(str(folder / file), providers=["CPUExecutionProvider"])
        dec = OrtDecoderSession(sess, _Artifact(folder / file), {}).decoder()
        variants[key] = {"file": file, "format": "onnx", "method": method, "accuracy": exact_match(dec, x, answers)}
    for v in variants.values():
        v["sha256"] = sha256_file(folder / v["file"])
        v["size_bytes"] = (folder / v["file"]).stat().st_size
    params = arch.count_params(model)
    card = {
        "name": name, "family": family, "config": config, "task": "generation", "quality_metric": "generation.exact_match",
        "params": params, "mflops": round(2 * params / 1e6, 4), "flops_per_token": 2 * params,
        "input": {"name": "input_ids", "shape": [None, None], "layout": "NT", "dtype": "int64", "resizable": False},
        "dataset": {**EVAL, "what": "exact match of greedy answers (at most 8 new tokens) on these prompts"},
        "accuracy": {k: v["accuracy"] for k, v in variants.items()}, "artifacts": variants,
        "training": {"steps": steps, "lr": lr, "batch_size": BATCH, "seed": TRAIN_SEED, "threads": 2,
                     "optimizer": "AdamW + OneCycleLR", "loss": "cross entropy on the answer tokens"},
        "tools": {k: version_of(k) for k in ("torch", "onnx", "onnxruntime", "numpy")},
        "measured_on": cpu_summary(),
    }  # fmt: skip
    (folder / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    sums = sorted((v["sha256"], v["file"]) for v in variants.values())
    (folder / "SHA256SUMS").write_text("".join(f"{d}  {f}\n" for d, f in sums))
    print(f"{name}: {params} parameters, exact match {card['accuracy']}", flush=True)
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pytest_aibench.gen.build", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=list(DECODERS))
    ap.add_argument("--keep-weights", action="store_true", help="re-derive the variants from the folder's model.pt")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "fixtures" / "models")
    args = ap.parse_args(argv)
    for name in args.names:
        build(name, args.out, args.keep_weights)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
