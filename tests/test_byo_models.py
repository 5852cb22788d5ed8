"""A user's own model files (.pt TorchScript, .pt2 torch.export, .onnx) run like zoo models."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
# the fixture writes a TorchScript file to prove old .pt files still load; torch 2.13 deprecates writing them
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from pytest_aibench.zoo import build_module
    from pytest_aibench.zoo.cards import find_card

    card = find_card("tinycnn-digits")
    module = build_module(card.family, card.config)
    module.load_state_dict(torch.load(card.folder / "model.pt", weights_only=True))
    module.eval()
    out = tmp_path_factory.mktemp("byo")
    example = torch.zeros(1, 1, 8, 8)
    torch.jit.save(torch.jit.trace(module, example), str(out / "net.pt"))
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(module, (torch.zeros(4, 1, 8, 8),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(out / "net.pt2"))
    (out / "net.onnx").write_bytes((card.folder / "model.onnx").read_bytes())
    (out / "net.tflite").write_bytes((card.folder / "model.tflite").read_bytes())
    (out / "broken.tflite").write_bytes((card.folder / "model.tflite").read_bytes()[:300])
    (out / "broken.onnx").write_bytes((card.folder / "model.onnx").read_bytes()[:500])  # truncated
    return out


@pytest.mark.slow
def test_own_files_run_and_broken_ones_fail_alone(pytester, exported):
    models = ""
    pytest.importorskip("ai_edge_litert")
    for name, file, fw in (
        ("ts", "net.pt", "torch"),
        ("ep", "net.pt2", "torch"),
        ("ox", "net.onnx", "onnxruntime"),
        ("lt", "net.tflite", "litert"),
        ("broken", "broken.onnx", "onnxruntime"),
        ("broken_lt", "broken.tflite", "litert"),
    ):
        (Path(pytester.path) / file).write_bytes((exported / file).read_bytes())
        sha = hashlib.sha256((exported / file).read_bytes()).hexdigest()
        models += (
            f"  {name}:\n    file: {file}\n    sha256: {sha}\n    frameworks: [{fw}]\n"
            "    input: {shape: [null, 1, 8, 8], layout: NCHW}\n"
        )
    (Path(pytester.path) / "suite.yaml").write_text(
        "suite: byo\nversion: '1'\ndatasets:\n  digits: {source: digits}\nmodels:\n"
        + models
        + "frameworks: [torch, onnxruntime, litert]\nsettings: {latency_samples: 10, warmup: 1}\n"
    )
    result = pytester.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "byo::broken?onnxruntime-fp32-single?: onnxruntime cannot load *broken.onnx*",
            "byo::broken_lt?litert-fp32-single?: LiteRT cannot load *broken.tflite*",
        ]
    )
    items = {i["model"]: i for i in json.loads((Path(pytester.path) / "r.json").read_text())["items"]}
    assert all(items[m]["metrics"]["accuracy"] > 0.9 for m in ("ts", "ep", "ox", "lt"))
    assert items["ts"]["metrics"]["accuracy"] == items["ox"]["metrics"]["accuracy"]


def test_wrong_input_shape_is_a_clear_item_error(pytester, exported):
    sha = hashlib.sha256((exported / "net.onnx").read_bytes()).hexdigest()
    (Path(pytester.path) / "net.onnx").write_bytes((exported / "net.onnx").read_bytes())
    (Path(pytester.path) / "suite.yaml").write_text(
        "suite: byo\nversion: '1'\ndatasets:\n  digits: {source: digits}\nmodels:\n"
        f"  ox:\n    file: net.onnx\n    sha256: {sha}\n    input: {{shape: [null, 8, 8, 1], layout: NHWC}}\n"
        "frameworks: [onnxruntime]\n"
    )
    result = pytester.runpytest("--aibench", "suite.yaml")
    result.assert_outcomes(errors=1)  # found when the model is prepared: the spec contradicts the file
    result.stdout.fnmatch_lines(
        [
            "*net.onnx (onnxruntime): the manifest says input shape ?None, 8, 8, 1?, the model's "
            "input * is ?'N', 1, 8, 8?; fix 'input: {shape: ...}'*"
        ]
    )
