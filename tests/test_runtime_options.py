"""Runtime options from the manifest (``runtime_options: {<runner>: {...}}``): each runner declares the
keys it reads, the manifest check refuses anything else at its line, the runtime really is configured
as asked (read back from the runtime where it says), each result records it, and a provider or delegate
this machine lacks skips its item with the reason instead of timing a fallback under its name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_aibench.core.model import Settings
from pytest_aibench.runtimes import RUNNERS, options_of, runtime_options

SUITE = """\
suite: opts
version: "1.0"
datasets:
  digits: {source: digits}
models:
  tinycnn: {zoo: tinycnn-digits}
frameworks: [FRAMEWORKS]
quantizations: [fp32]
settings:
  eval_samples: 64
  latency_samples: 5
  warmup: 1
  runtime_options:
OPTIONS
"""


def _suite(pytester: pytest.Pytester, frameworks: str, options: str) -> None:
    text = SUITE.replace("FRAMEWORKS", frameworks).replace("OPTIONS", options)
    (Path(pytester.path) / "suite.yaml").write_text(text)


def _items(pytester: pytest.Pytester) -> dict[str, dict]:
    doc = json.loads((Path(pytester.path) / "run.json").read_text())
    return {i["axes"]["framework"]: i for i in doc["items"]}


def test_every_shipped_runner_declares_valid_options_with_a_description():
    for name in ("onnxruntime", "torch", "litert", "openvino", "llama_cpp"):
        declared = options_of(RUNNERS.get(name))
        assert declared, name
        for key, option in declared.items():
            assert option.expected and option.description, (name, key)


def test_settings_merge_runtime_options_per_runner_and_key():
    suite = Settings().merged({"runtime_options": {"onnxruntime": {"graph_optimization_level": "basic"}}})
    model = suite.merged({"runtime_options": {"onnxruntime": {"providers": ["CPUExecutionProvider"]}, "torch": {}}})
    assert runtime_options(model, "onnxruntime") == {
        "graph_optimization_level": "basic",
        "providers": ["CPUExecutionProvider"],
    }
    assert runtime_options(model, "litert") == {}


@pytest.mark.slow
def test_bad_runtime_options_are_each_refused_at_their_line(pytester: pytest.Pytester) -> None:
    _suite(
        pytester,
        "onnxruntime",
        "    onnxruntime: {provders: [CPUExecutionProvider]}\n"
        "    torch: {dtype: bf16}\n"
        "    litert: {delegate: {library: 3}}\n"
        "    tourch: {dtype: float16}\n",
    )
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider")
    assert r.ret != 0
    r.stderr.fnmatch_lines(
        [
            "*suite.yaml:14: settings.runtime_options.onnxruntime.provders: onnxruntime has no runtime option "
            "'provders' (it declares: providers, *); did you mean 'providers'?",
            "*suite.yaml:15: settings.runtime_options.torch.dtype: torch option 'dtype': expected one of float32, "
            "bfloat16, float16; got 'bf16'",
            "*suite.yaml:16: settings.runtime_options.litert.delegate: *expected xnnpack, none, reference, or*",
            "*suite.yaml:17: settings.runtime_options.tourch: unknown runner 'tourch'*did you mean 'torch'?",
        ]
    )


@pytest.mark.slow
def test_onnxruntime_options_configure_the_session_and_are_recorded(pytester: pytest.Pytester) -> None:
    pytest.importorskip("onnxruntime")
    _suite(
        pytester,
        "onnxruntime",
        "    onnxruntime:\n"
        "      providers: [{CPUExecutionProvider: {arena_extend_strategy: kSameAsRequested}}]\n"
        "      graph_optimization_level: basic\n"
        "      session_config: {session.intra_op.allow_spinning: 0}\n",
    )
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=1)
    runner = _items(pytester)["onnxruntime"]["runner"]
    assert runner["graph_optimization_level"] == "ORT_ENABLE_BASIC"
    assert runner["providers"] == ["CPUExecutionProvider"] and runner["device"] == "cpu"
    assert runner["providers_asked"] == [["CPUExecutionProvider", {"arena_extend_strategy": "kSameAsRequested"}]]
    assert runner["session_config"] == {"session.intra_op.allow_spinning": "0"}
    assert runner["spin_wait"] is False and runner["spin_why"] == "the manifest's session_config"


@pytest.mark.slow
def test_a_provider_this_build_lacks_skips_with_the_reason(pytester: pytest.Pytester) -> None:
    ort = pytest.importorskip("onnxruntime")
    if "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has TensorRT: the skip path needs one without")
    _suite(pytester, "onnxruntime", "    onnxruntime: {providers: [TensorrtExecutionProvider, CPUExecutionProvider]}\n")
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "-rs")
    r.assert_outcomes(skipped=1)
    r.stdout.fnmatch_lines(["*onnxruntime * here offers *CPUExecutionProvider*, not TensorrtExecutionProvider*"])
    assert "Traceback" not in r.stdout.str()


@pytest.mark.slow
def test_torch_dtype_and_channels_last_are_applied_and_recorded(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    _suite(pytester, "torch", "    torch: {dtype: bfloat16, channels_last: true}\n")
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=1)
    item = _items(pytester)["torch"]
    assert item["runner"]["dtype"] == "bfloat16" and item["runner"]["memory_format"] == "channels_last"
    assert item["metrics"]["accuracy"] >= 0.9  # bf16 scores still classify the digits


@pytest.mark.slow
def test_litert_delegates_are_chosen_and_a_missing_library_skips(pytester: pytest.Pytester) -> None:
    pytest.importorskip("ai_edge_litert")
    _suite(pytester, "litert", "    litert: {delegate: none}\n")
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=1)
    assert _items(pytester)["litert"]["runner"]["delegate"] == "none (built-in kernels)"
    _suite(pytester, "litert", "    litert: {delegate: {library: /opt/vendor/libnpu_delegate.so}}\n")
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "-rs")
    r.assert_outcomes(skipped=1)
    r.stdout.fnmatch_lines(["*LiteRT delegate library /opt/vendor/libnpu_delegate.so is not on this machine*"])


@pytest.mark.slow
def test_openvino_hints_are_applied_and_read_back(pytester: pytest.Pytester) -> None:
    pytest.importorskip("openvino")
    _suite(pytester, "openvino", "    openvino: {performance_hint: throughput, inference_precision: bf16}\n")
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=1)
    runner = _items(pytester)["openvino"]["runner"]
    assert runner["performance_hint"] == "THROUGHPUT"
    assert runner["inference_precision"] in ("bf16", "f32")  # f32 where the CPU has no bf16 units


@pytest.mark.slow
def test_the_paired_gate_prepares_each_side_where_its_run_computed(pytester: pytest.Pytester) -> None:
    """REF measured with ORT's graph optimizations off; the candidate with them on: the paired gate
    re-measures the reference side as REF configured it, so the change of options is what it compares."""
    pytest.importorskip("onnxruntime")
    paired = "    onnxruntime: {graph_optimization_level: disable}\n  max_pair_seconds: 2\n  paired_sessions: 2\n"
    _suite(pytester, "onnxruntime", paired)
    pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "ref.json")
    _suite(pytester, "onnxruntime", "    onnxruntime: {}\n  max_pair_seconds: 2\n  paired_sessions: 2\n")
    r = pytester.runpytest(
        "--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json",
        "--aibench-against", "ref.json", "--aibench-fail-on", "latency.p50:+900%",
    )  # fmt: skip
    r.assert_outcomes(passed=1)
    r.stdout.fnmatch_lines(
        [
            "*compares where it computes: *reference on device cpu, onnxruntime "
            "{'graph_optimization_level': 'disable'}; candidate on device cpu*"
        ]
    )
    against = _items(pytester)["onnxruntime"]["info"]["against"]
    assert against["status"] == "compared" and against["platform"]["differs"] is True
    assert against["reference_environment"]["options"]["graph_optimization_level"] == "ORT_DISABLE_ALL"
    assert against["reference_environment"]["candidate_options"]["graph_optimization_level"] == "ORT_ENABLE_ALL"
