"""OpenVINO as a fourth runtime, one file plus one registry entry: it reads the zoo's ONNX artifacts,
agrees with ONNX Runtime in fp32, really runs the QDQ int8 file on int8 kernels (read back from its
execution graph, not assumed), and runs a manifest's items like any other runtime."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pytest_aibench.artifact import resolve
from pytest_aibench.core.model import DatasetSpec, ModelSpec, Settings
from pytest_aibench.data import materialize
from pytest_aibench.registry import RUNNERS
from pytest_aibench.runtimes import missing
from pytest_aibench.sim.node import Node

pytest.importorskip("openvino", reason="OpenVINO is not installed: pip install 'pytest-aibench[openvino]'")
pytest.importorskip("onnxruntime")

MODEL = ModelSpec(name="tiny", dataset="digits", zoo="tinycnn-digits")


def _run(framework: str, quantization: str, x: np.ndarray) -> tuple[np.ndarray, dict]:
    runner = RUNNERS.get(framework)
    assert missing(runner) is None
    session = runner.prepare(resolve(MODEL, framework, quantization, runner), Node(threads=1), Settings())
    try:
        return session.infer(session.adapt(x)), session.options
    finally:
        session.close()


def test_fp32_agrees_with_onnxruntime_and_int8_runs_int8_kernels():
    digits = materialize(DatasetSpec(name="digits", source="digits"))
    x, y = digits.x_eval, digits.y_eval
    ov32, options = _run("openvino", "fp32", x)
    ort32, _ = _run("onnxruntime", "fp32", x)
    assert np.abs(ov32 - ort32).max() < 1e-4
    assert options["inference_precision"] == "f32"  # not bf16 behind the item's back on a BF16/AMX CPU
    assert all(k.endswith("f32") for k in options["weighted_ops"]), options["weighted_ops"]
    ov8, options8 = _run("openvino", "int8", x)
    assert options8["weighted_ops"] and all(k.split()[1] in ("u8", "i8") for k in options8["weighted_ops"]), options8
    assert (ov8.argmax(-1) == y).mean() >= (ov32.argmax(-1) == y).mean() - 0.01
    assert options8["version"] and options8["device"] == "CPU"


def test_a_file_openvino_cannot_read_is_one_clear_error(tmp_path):
    from pytest_aibench.errors import ArtifactError

    runner = RUNNERS.get("openvino")
    artifact = resolve(MODEL, "openvino", "fp32", runner)
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ArtifactError, match=r"OpenVINO cannot load .*model\.onnx"):
        runner.prepare(replace(artifact, path=bad), Node(threads=1), Settings())


SUITE = """\
suite: ov
version: "1.0"
datasets:
  digits: {source: digits, split_seed: 0, eval_fraction: 0.25}
models:
  tinycnn: {zoo: tinycnn-digits}
frameworks: [openvino]
quantizations: [fp32, int8]
gates: {accuracy: ">= 0.9"}
settings: {latency_samples: 20, warmup: 2}
"""


@pytest.mark.slow
def test_a_manifest_runs_on_openvino_and_records_its_version(pytester: pytest.Pytester) -> None:
    (Path(pytester.path) / "suite.yaml").write_text(SUITE)
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=2)
    items = json.loads((Path(pytester.path) / "run.json").read_text())["items"]
    assert {i["id"].split("[")[1].split("-")[1] for i in items} == {"fp32", "int8"}
    text = json.dumps(items)
    assert '"openvino"' in text and "weighted_ops" in text and "2026." in text
