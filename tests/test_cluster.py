"""Scale-out on Dask: loopback clusters, placement by resource, the device farm, dying workers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import manifest

pytestmark = pytest.mark.slow  # Dask clusters in subprocesses

pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[1]


def items(path: Path) -> dict[str, dict]:
    return {i["id"]: i for i in json.loads(path.read_text())["items"]}


def test_roles_are_placed_by_resource_with_in_process_accuracy_on_loopback(pytester):
    pytest.importorskip("torch")
    (Path(pytester.path) / "suite.yaml").write_text((ROOT / "suites" / "edge-cloud" / "suite.yaml").read_text())
    k = ["-k", "joint_inference or federated"]
    pytester.runpytest_subprocess("--aibench", "suite.yaml", *k, "--aibench-json", "here.json").assert_outcomes(
        passed=4
    )
    result = pytester.runpytest_subprocess(
        "--aibench", "suite.yaml", *k, "--aibench-cluster", "local:edge,cloud", "--aibench-json", "cluster.json"
    )
    result.assert_outcomes(passed=4)
    here, there = items(Path(pytester.path) / "here.json"), items(Path(pytester.path) / "cluster.json")
    assert {i: here[i]["metrics"]["accuracy"] for i in here} == {i: there[i]["metrics"]["accuracy"] for i in there}
    assert {i: here[i]["metrics"]["sim"] for i in here} == {i: there[i]["metrics"]["sim"] for i in there}
    joint = there["edge-cloud::small[torch-fp32-joint_inference-good]"]
    backend = joint["info"]["backend"]
    workers = backend["workers"]
    edge_worker = next(a for a, r in workers.items() if "edge" in r)
    cloud_worker = next(a for a, r in workers.items() if "cloud" in r)
    assert edge_worker != cloud_worker
    assert sorted(map(tuple, backend["placements"])) == [("cloud", cloud_worker), ("edge", edge_worker)]
    assert joint["metrics"]["measured"]["transfer_ms"] > 0 and joint["metrics"]["sim"]["latency"]["p99_ms"] > 0
    assert backend["socket_ips"] == ["127.0.0.1"]  # the cluster listened and connected on loopback only
    fl = there["edge-cloud::large[torch-fp32-federated_learning-good]"]
    assert ("edge", edge_worker) in map(tuple, fl["info"]["backend"]["placements"])


def test_device_farm_dispatches_by_profile_and_skips_unoffered_devices(demo, linear_model):
    text = manifest(
        linear_model[1],
        models=f"  on_jetson:\n    file: model.npz\n    sha256: {linear_model[1]}\n"
        "    settings: {device: jetson_orin}\n"
        f"  on_mcu:\n    file: model.npz\n    sha256: {linear_model[1]}\n"
        "    settings: {device: mcu}\n",
    )
    (Path(demo.path) / "suite.yaml").write_text(text)
    result = demo.runpytest_subprocess(
        "--aibench",
        "suite.yaml",
        "--aibench-cluster",
        "local:edge+jetson_orin,cloud",
        "--aibench-dispatch",
        "--aibench-json",
        "r.json",
        "-rs",
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*no cluster worker offers device 'mcu' (workers offer: cloud, edge, jetson_orin)*"])
    got = items(Path(demo.path) / "r.json")
    jet = got["demo::on_jetson[numpy-fp32-single]"]
    assert jet["runner"]["dispatched_to"] == "jetson_orin" and jet["metrics"]["accuracy"] > 0.9
    assert jet["info"]["worker_machine"]["cpu"]["logical"] >= 1
    ((role, worker),) = jet["info"]["placements"]
    assert role == "jetson_orin" and worker.startswith("tcp://127.0.0.1:")


def test_a_worker_dying_mid_item_fails_that_item_only(demo, linear_model):
    models = "".join(f"  {n}:\n    file: model.npz\n    sha256: {linear_model[1]}\n" for n in ("a", "b_abort", "c"))
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], models=models))
    result = demo.runpytest_subprocess(
        "--aibench", "suite.yaml", "--aibench-cluster", "local:2", "--aibench-dispatch", "--aibench-json", "r.json"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*demo::b_abort?numpy-fp32-single?: measuring on the cluster failed (KilledWorker*"])
    got = items(Path(demo.path) / "r.json")
    assert (
        got["demo::a[numpy-fp32-single]"]["outcome"] == "passed"
        and got["demo::c[numpy-fp32-single]"]["outcome"] == "passed"
    )


def test_without_distributed_the_option_fails_with_a_hint_and_the_rest_works(demo, linear_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-cluster", "local:2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--aibench-cluster needs Dask distributed: pip install 'pytest-aibench?cluster?'*"])
    demo.runpytest("--aibench", "suite.yaml").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "spec, message", [("local:0", "expected 1..64 local workers"), ("local:", "expected local:N or local:RESOURCE")]
)
def test_bad_local_specs_are_usage_errors(demo, linear_model, spec, message):
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-cluster", spec)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
