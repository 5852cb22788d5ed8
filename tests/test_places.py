"""One plan, any place: every registered paradigm measured here, in a child process (with and
without a timeout), with topology roles on a loopback Dask cluster, and on a device-farm worker,
giving the same accuracy and the same simulated figures in each. Also the controller's bookkeeping
under ``--dist each``, and no cluster started for ``--collect-only``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import manifest
from pytest_aibench.registry import PARADIGMS

pytestmark = pytest.mark.slow  # the suite in five places, each a subprocess

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

INFERENCE = ["single", "edge_only", "cloud_only", "joint_inference", "multi_edge_inference"]
LEARNING = [
    "single_task_learning",
    "federated_learning",
    "federated_class_incremental_learning",
    "incremental_learning",
    "lifelong_learning",
    "trial",
    "search",
    "train_to_quality",
    "serve_trained",
]
GENERATION = ["generate", "llm_edge_only", "llm_routing", "speculative_decoding"]
SUITE = f"""suite: places
version: "1.0"
datasets:
  digits: {{source: digits, split_seed: 0}}
  problems: {{source: prompts, split_seed: 0, eval_fraction: 0.5, params: {{samples: 40, seed: 1}}}}
models:
  edge: {{zoo: tinycnn4-digits, dataset: digits, frameworks: [onnxruntime], paradigms: [{", ".join(INFERENCE)}]}}
  cloud: {{zoo: tinycnn-digits, dataset: digits, frameworks: [onnxruntime], paradigms: [single]}}
  learner: {{zoo: tinycnn4-digits, dataset: digits, frameworks: [torch], paradigms: [{", ".join(LEARNING)}]}}
  dec_edge: {{zoo: decoder-edge, dataset: problems, frameworks: [onnxruntime], paradigms: [{", ".join(GENERATION)}]}}
  dec_cloud: {{zoo: decoder-cloud, dataset: problems, frameworks: [onnxruntime], paradigms: [llm_cloud_only]}}
  gemm: {{kernel: {{op: gemm, shape: {{m: 64, n: 8, k: 64}}}}, frameworks: [numpy], paradigms: [kernel]}}
frameworks: [onnxruntime]
topologies:
  edge4: {{edge: rpi4, cloud: cloud, edges: 2, uplink: {{latency_ms: 10, bandwidth_mbps: 50}}}}
params:
  joint_inference: {{cloud_model: cloud, threshold: 0.9}}
  federated_learning: {{clients: 2, rounds: 2, local_epochs: 1}}
  incremental_learning: {{rounds: 2, epochs: 1}}
  lifelong_learning: {{tasks: [original, rotated], epochs: 1}}
  trial: {{epochs: 1}}
  single_task_learning: {{epochs: 1}}
  federated_class_incremental_learning: {{clients: 2, tasks: 2, rounds_per_task: 1}}
  search: {{widths: [4, 8], depths: [], epochs: [1], parallel: 2, max_trials: 2}}
  train_to_quality: {{target_accuracy: 0.5, max_epochs: 2, seeds: [0]}}
  serve_trained: {{target_accuracy: 0.5, max_epochs: 2}}
  llm_routing: {{cloud_model: dec_cloud, threshold: 0.9}}
  speculative_decoding: {{cloud_model: dec_cloud, draft_tokens: 3}}
settings: {{warmup: 1, latency_samples: 10, eval_samples: 120}}
metrics: [accuracy, latency, collaborative, training, kernel]
"""
PLACES = {
    "here": [],
    "isolate": ["--aibench-isolate"],
    "timeout": ["--aibench-timeout", "300"],
    "cluster": ["--aibench-cluster", "local:2"],
    "dispatch": ["--aibench-cluster", "local:2", "--aibench-dispatch"],
}
#: figures that must not depend on where an item ran: accuracy and everything simulated or counted
STABLE = (
    "accuracy",
    "sim.",
    "fl.",
    "il.",
    "ll.",
    "fcil.",
    "stl.",
    "aiperf.best_accuracy",
    "aiperf.total_flops",
    "offload_ratio",
    "hard_ratio",
    "bytes.",
    "outage",
    "split.",
    "multi_edge.",
    "trial.accuracy",
    "trial.params",
    "trial.mflops",
    "train.reached",
    "kernel.flops",
    "generation.",
    "cloud.",
    "spec.acceptance_rate",
    "spec.identical_to_cloud",
    "spec.tokens_per_round",
    "kv_cache.bytes",
)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}" if k != "value" else prefix[:-1]] = v
    return out


def _stable(item: dict) -> dict:
    metrics = _flat(item["metrics"])
    return {k: v for k, v in metrics.items() if k.startswith(STABLE)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict]]:
    """The suite run once in each place (subprocesses: Dask and spawned children need real processes)."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("places")
    (folder / "suite.yaml").write_text(SUITE)
    out: dict[str, dict[str, dict]] = {}
    for name, args in PLACES.items():
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--aibench",
                "suite.yaml",
                "--aibench-json",
                f"{name}.json",
                "--aibench-out",
                f"out-{name}",
                *args,
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, f"{name}: rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        out[name] = {i["id"]: i for i in json.loads((folder / f"{name}.json").read_text())["items"]}
    return out


def test_every_metric_a_paradigm_records_is_declared_and_can_be_gated(runs: dict[str, dict[str, dict]]) -> None:
    """Each paradigm's recorded metrics are declared by a metric group or by that paradigm itself (so a suite
    that runs it can gate on them), and a gate on each is accepted by the manifest checker."""
    from pytest_aibench.core.metric import Catalogue
    from pytest_aibench.judge.metrics import METRICS
    from pytest_aibench.manifest.checker import parse_gate
    from pytest_aibench.tasks import catalogue_entries

    groups = [(g, METRICS.get(g).provides) for g in METRICS.names()] + [("tasks", catalogue_entries())]
    undeclared: dict[str, list[str]] = {}
    for item in runs["here"].values():
        paradigm = item["axes"]["paradigm"]
        declared = Catalogue([*groups, (paradigm, getattr(PARADIGMS.get(paradigm), "provides", {}))])
        recorded = _flat(item["metrics"])
        missing = sorted(k for k in recorded if k not in declared)
        if missing:
            undeclared[paradigm] = missing
        for name, value in recorded.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert not isinstance(parse_gate(name, f">= {value}", "suite.yaml:1"), str), name
    assert not undeclared, undeclared
    assert {i["axes"]["paradigm"] for i in runs["here"].values()} == set(PARADIGMS.names())


def test_the_matrix_covers_every_registered_paradigm():
    assert sorted(INFERENCE + LEARNING + GENERATION + ["llm_cloud_only", "kernel"]) == sorted(PARADIGMS.names())


@pytest.mark.parametrize("place", [p for p in PLACES if p != "here"])
def test_every_paradigm_gives_the_same_figures_in_every_place(runs, place):
    here, there = runs["here"], runs[place]
    assert sorted(here) == sorted(there)
    assert {i["axes"]["paradigm"] for i in here.values()} == set(PARADIGMS.names())
    for item_id, item in here.items():
        assert item["outcome"] == there[item_id]["outcome"] == "passed", (item_id, there[item_id].get("reason"))
        assert _stable(item) == _stable(there[item_id]), item_id
    joint = here["places::edge[onnxruntime-fp32-joint_inference-edge4]"]
    assert joint["metrics"]["accuracy_cloud_only"] > joint["metrics"]["accuracy_edge_only"]  # the cloud model ran
    if place in ("isolate", "timeout"):
        assert all(i["runner"].get("isolated") == "child process" for i in there.values())
    if place == "dispatch":
        assert all(i["runner"].get("dispatched_to") == "host" for i in there.values())
    if place == "cluster":
        fl = there["places::learner[torch-fp32-federated_learning-edge4]"]
        assert any(role == "edge" for role, _ in fl["info"]["backend"]["placements"])


def test_dist_each_keeps_every_workers_result(demo, linear_model):
    pytest.importorskip("xdist")
    demo.path.joinpath("suite.yaml").write_text(manifest(linear_model[1]))
    result = demo.runpytest_subprocess(
        "--aibench", "suite.yaml", "-n", "2", "--dist", "each", "--aibench-json", "r.json"
    )
    result.assert_outcomes(passed=2)
    items = json.loads((Path(demo.path) / "r.json").read_text())["items"]
    assert sorted(i["worker"] for i in items) == ["gw0", "gw1"]
    assert len({i["id"] for i in items}) == 1 and all(i["outcome"] == "passed" for i in items)


def test_collect_only_starts_no_cluster(demo, linear_model):
    demo.path.joinpath("suite.yaml").write_text(manifest(linear_model[1]))
    demo.makeconftest(
        demo.path.joinpath("conftest.py").read_text()
        + """
import pytest_aibench.cluster


def _no(spec):
    raise AssertionError("a cluster was started")


def pytest_configure(config):
    pytest_aibench.cluster.start = _no
"""
    )
    collected = demo.runpytest("--aibench", "suite.yaml", "--aibench-cluster", "local:2", "--collect-only", "-q")
    assert collected.ret == 0
    collected.stdout.fnmatch_lines(["*suite.yaml::linear?numpy-fp32-single?*"])
    ran = demo.runpytest("--aibench", "suite.yaml", "--aibench-cluster", "local:2")
    assert ran.ret != 0 and "a cluster was started" in ran.stdout.str() + ran.stderr.str()


HAND = """
import numpy as np
import pytest


@pytest.mark.aibench(latency_samples=30, warmup=1, latency_rounds=3, gates={"accuracy": ">= 0.999"})
def test_gated(aibench, aibench_runner, aibench_dataset):
    aibench(aibench_runner, aibench_dataset)


@pytest.mark.aibench(latency_samples=30, warmup=1, latency_rounds=3)
def test_rounds(aibench, aibench_runner, aibench_dataset):
    result = aibench(aibench_runner, aibench_dataset)
    assert len(result.samples["round_medians_ns"]) == 3 and result.metrics["accuracy"] > 0.95


@pytest.mark.aibench(latency_samples=10, warmup=1)
def test_callable(aibench, aibench_dataset):
    aibench(lambda b: np.zeros((len(b), 10), np.float32), aibench_dataset)
"""


def test_handwritten_tests_share_the_gates_rounds_and_places(pytester):
    pytester.makepyfile(test_hand=HAND)
    here = pytester.runpytest("test_hand.py", "--aibench-json", "here.json")
    here.assert_outcomes(passed=2, failed=1)
    here.stdout.fnmatch_lines(["*aibench gate failed: accuracy = 0.99*, required >= 0.999 (gate at test_hand.py*"])
    isolated = pytester.runpytest("test_hand.py", "--aibench-isolate", "--aibench-json", "iso.json")
    isolated.assert_outcomes(passed=1, failed=2)
    isolated.stdout.fnmatch_lines(
        [
            "*test_hand.py::test_callable: aibench(function) cannot measure a Python object in "
            "another process (--aibench-isolate*pass the aibench_runner fixture*"
        ]
    )
    items = {i["model"]: i for i in json.loads((Path(pytester.path) / "iso.json").read_text())["items"]}
    assert items["test_rounds"]["runner"]["isolated"] == "child process"
    assert items["test_gated"]["gates"][0]["passed"] is False
    here_items = {i["model"]: i for i in json.loads((Path(pytester.path) / "here.json").read_text())["items"]}
    assert here_items["test_rounds"]["metrics"]["accuracy"] == items["test_rounds"]["metrics"]["accuracy"]


def test_handwritten_tests_are_judged_against_a_baseline(pytester):
    pytester.makepyfile(test_hand=HAND)
    pytester.runpytest("test_hand.py", "-k", "rounds", "--aibench-json", "base.json").assert_outcomes(passed=1)
    doc = json.loads((Path(pytester.path) / "base.json").read_text())
    doc["items"][0]["metrics"]["accuracy"] += 0.01
    (Path(pytester.path) / "base.json").write_text(json.dumps(doc))
    result = pytester.runpytest(
        "test_hand.py", "-k", "rounds", "--aibench-compare", "base.json", "--aibench-fail-on", "accuracy:-0.001"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*regression against base.json: accuracy: baseline *, change -0.01*"])


def test_a_session_recording_settings_still_works_with_a_deprecation_warning(demo, linear_model):
    demo.path.joinpath("demo_runners.py").write_text(
        demo.path.joinpath("demo_runners.py")
        .read_text()
        .replace('self.options = {"threads": 1', 'self.settings = {"threads": 1')
    )
    demo.path.joinpath("suite.yaml").write_text(manifest(linear_model[1]))
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "r.json", "-W", "always::DeprecationWarning")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*NumpySession.settings is deprecated: name the runner session's recorded configuration `options`*"]
    )
    (item,) = json.loads((Path(demo.path) / "r.json").read_text())["items"]
    assert item["runner"]["engine"] == "numpy matmul"
