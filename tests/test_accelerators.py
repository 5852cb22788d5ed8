"""Devices from the manifest: ``device: cuda:1`` is parsed and checked by each runner before it loads
anything; a device the runtime or the machine lacks skips its item with the reason (never a traceback);
every result records the device it ran on. The GPU test runs where torch sees a CUDA device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_aibench.errors import ArtifactError
from pytest_aibench.runtimes import accelerator


@pytest.mark.parametrize(
    "spec, expected",
    [
        (None, ("cpu", 0)),
        ("cpu", ("cpu", 0)),
        ("cuda", ("cuda", 0)),
        ("CUDA:1", ("cuda", 1)),
        ("gpu:2", ("gpu", 2)),
        ("npu", ("npu", 0)),
        ("jetson_orin", ("cpu", 0)),  # a cluster worker's resource (--aibench-dispatch): that worker's CPU
    ],
)
def test_device_specs_parse_to_a_kind_and_an_index(spec, expected):
    assert accelerator(spec) == expected


def test_a_malformed_device_index_is_one_clear_error():
    with pytest.raises(ArtifactError, match=r"device 'cuda:x': expected cuda or cuda:N"):
        accelerator("cuda:x")


SUITE = """\
suite: dev
version: "1.0"
datasets:
  digits: {source: digits}
models:
  tinycnn: {zoo: tinycnn-digits}
frameworks: [FRAMEWORKS]
quantizations: [fp32]
axes:
  device: [cpu, cuda]
settings: {eval_samples: 64, latency_samples: 5, warmup: 1}
"""


@pytest.mark.slow
def test_a_device_the_machine_lacks_skips_with_the_reason_and_results_record_their_device(
    pytester: pytest.Pytester,
) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device: the skip path needs one without")
    (Path(pytester.path) / "suite.yaml").write_text(SUITE.replace("FRAMEWORKS", "torch, onnxruntime"))
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "-rs", "--aibench-json", "run.json")
    r.assert_outcomes(passed=2, skipped=2)
    r.stdout.fnmatch_lines(
        [
            "*device 'cuda' on torch: torch * sees no CUDA device here*",
            "*device 'cuda' on onnxruntime: onnxruntime * offers *CPUExecutionProvider*onnxruntime-gpu*",
        ]
    )
    assert "Traceback" not in r.stdout.str()
    items = json.loads((Path(pytester.path) / "run.json").read_text())["items"]
    ran = [i for i in items if i["outcome"] == "passed"]
    assert {i["runner"]["device"] for i in ran} == {"cpu"} and all(i["id"].endswith("-cpu]") for i in ran)


@pytest.mark.slow
def test_torch_runs_on_a_cuda_device_and_records_it(pytester: pytest.Pytester) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip(f"no CUDA device here (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'})")
    (Path(pytester.path) / "suite.yaml").write_text(SUITE.replace("FRAMEWORKS", "torch"))
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=2)
    items = {i["id"]: i for i in json.loads((Path(pytester.path) / "run.json").read_text())["items"]}
    gpu = next(i for k, i in items.items() if k.endswith("-cuda]"))
    assert gpu["runner"]["device"] == "cuda:0" and gpu["runner"]["device_name"]
