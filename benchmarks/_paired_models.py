"""The paired gate-quality benchmark's inputs: smoke's tinycnn on ONNX Runtime and on PyTorch (two
threads), as the reference (A) and as "the same network with a layer more" (B: an identity 1x1
convolution and ReLU after the last convolution, so predictions are unchanged and only the cost
grows), each in its own folder with a manifest using smoke's ``ci`` profile.

``build(folder, extra_layers)`` writes ``folder/suite.yaml``, ``tinycnn.onnx`` and ``tinycnn.pt2``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "fixtures" / "models" / "tinycnn-digits"

MANIFEST = """\
# written by benchmarks/_paired_models.py: smoke's tinycnn, {what}
suite: paired-quality
version: "1.0"
datasets:
  digits: {{source: digits, split_seed: 0, eval_fraction: 0.25}}
models:
  tinycnn-ort:
    file: tinycnn.onnx
    sha256: {onnx}
    input: {{name: input, shape: [null, 1, 8, 8], layout: NCHW, dtype: float32}}
    frameworks: [onnxruntime]
  tinycnn-torch:
    file: tinycnn.pt2
    sha256: {pt2}
    frameworks: [torch]
    settings: {{threads: 2}}
frameworks: [onnxruntime, torch]
metrics: [accuracy, latency]
settings: {{batch_size: 64}}
profiles:
  ci: {{warmup: 20, latency_samples: 210, latency_rounds: 7, latency_span_s: 6}}
default_profile: ci
"""


def _onnx(extra: int, path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(CARD / "model.onnx")
    g = model.graph
    last = next(n for n in reversed(g.node) if n.op_type == "Relu").output[0]
    users = [n for n in g.node if last in n.input]
    prev = last
    new_nodes = []
    for i in range(extra):
        w = np.eye(32, dtype=np.float32).reshape(32, 32, 1, 1)
        g.initializer.extend(
            [
                numpy_helper.from_array(w, f"extra{i}.w"),
                numpy_helper.from_array(np.zeros(32, np.float32), f"extra{i}.b"),
            ]
        )
        new_nodes += [
            helper.make_node("Conv", [prev, f"extra{i}.w", f"extra{i}.b"], [f"extra{i}.conv"]),
            helper.make_node("Relu", [f"extra{i}.conv"], [f"extra{i}.out"]),
        ]
        prev = f"extra{i}.out"
    for n in users:
        n.input[list(n.input).index(last)] = prev
    at = list(g.node).index(users[0])
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(nodes[:at] + new_nodes + nodes[at:])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _pt2(extra: int, path: Path) -> None:
    import torch

    from pytest_aibench.zoo import build_module

    net = build_module("tinycnn", {"width": 16, "num_classes": 10, "in_channels": 1})
    net.load_state_dict(torch.load(CARD / "model.pt", map_location="cpu", weights_only=True))
    layers = list(net)
    at = max(i for i, m in enumerate(layers) if isinstance(m, torch.nn.ReLU)) + 1
    added = []
    for _ in range(extra):
        conv = torch.nn.Conv2d(32, 32, 1)
        with torch.no_grad():
            conv.weight.copy_(torch.eye(32).reshape(32, 32, 1, 1))
            conv.bias.zero_()
        added += [conv, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:at], *added, *layers[at:]).eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    ep = torch.export.export(model, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},))
    torch.export.save(ep, path)


def build(folder: Path, extra_layers: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _onnx(extra_layers, folder / "tinycnn.onnx")
    _pt2(extra_layers, folder / "tinycnn.pt2")
    sha = {k: hashlib.sha256((folder / f"tinycnn.{k}").read_bytes()).hexdigest() for k in ("onnx", "pt2")}
    what = "as shipped" if not extra_layers else f"with {extra_layers} identity 1x1 conv + ReLU layer(s) more"
    (folder / "suite.yaml").write_text(MANIFEST.format(what=what, **sha))
    return folder / "suite.yaml"
