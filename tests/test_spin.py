"""Idle runtime threads wait passively when the item's threads take every usable core (a spinning pool
would starve the interpreter and any neighbour), spin where cores are left, and the manifest decides
when it says so; ONNX Runtime sessions and the session's OpenMP policy follow, and results say why."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pytest_aibench.core.model import ModelSpec, Settings
from pytest_aibench.measure import spin
from pytest_aibench.sim.node import Node, host_threads


@pytest.mark.parametrize(
    "setting, threads, cpus, workers, others, expected",
    [
        (None, 2, 2, 1, 0.0, True),  # the pool takes both cores of a quiet machine: spinning is faster there
        (None, 2, 2, 1, 1.0, False),  # ... beside a busy neighbour it fights it for the core
        (None, 1, 2, 1, 1.0, True),  # a core left for everything else
        (None, 1, 2, 2, 0.0, False),  # two xdist workers of one thread each: both cores taken by us
        (None, 4, 16, 2, 3.0, True),
        (None, 8, 16, 2, 0.0, False),
        (True, 2, 2, 1, 1.0, True),  # a dedicated machine, said so in the manifest
        (False, 1, 16, 1, 0.0, False),
    ],
)
def test_spinning_is_off_exactly_when_the_threads_share_every_core_with_other_work(
    setting, threads, cpus, workers, others, expected
):
    policy = spin.decide(setting, threads, cpus, workers, others)
    assert policy.spin is expected
    assert ("manifest" in policy.why) is (setting is not None)


@pytest.mark.slow
def test_the_neighbours_are_measured_as_other_processes_cpu(monkeypatch):
    import subprocess

    monkeypatch.setattr(spin, "_NEIGHBOURS", [])
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        busy = spin.neighbours(0.5)
    finally:
        hog.kill()
    assert busy >= 0.5  # the busy loop's CPU, not ours (this process slept)
    assert spin.neighbours() == busy  # once a session


def test_the_session_sets_openmp_passive_only_when_an_item_needs_it(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as before any item imported it
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "1")
    monkeypatch.setattr(spin, "_NEIGHBOURS", [1.0])  # a busy neighbour when the session started
    monkeypatch.setattr(spin, "_SET_HERE", [])
    monkeypatch.setattr(spin, "_OPENMP_WHY", [])
    cores = host_threads()
    if cores > 1:
        assert spin.configure_openmp([(None, 1)]).startswith("unset")  # a core is left: libgomp's default
        assert "usable cores taken" in spin.openmp_why()
    assert spin.configure_openmp([(None, 1), (None, cores)]) == "PASSIVE"
    assert spin.openmp_why().startswith("set by the session") and "other processes using 1.0 CPUs" in spin.openmp_why()
    assert spin.configure_openmp([(True, cores)]) == "PASSIVE"  # a later session in this process keeps it
    assert spin.openmp_why().startswith("set by the session")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice stands
    assert spin.configure_openmp([(None, cores)]) == "ACTIVE"
    assert "user's choice" in spin.openmp_why()
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert spin.configure_openmp([(True, cores)]).startswith("unset")  # the manifest asked for spinning
    assert spin.openmp_why() == "set by the manifest (spin_wait)"


def test_a_paired_run_waits_passively_and_says_so_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(spin, "_SET_HERE", [])
    monkeypatch.setattr(spin, "_OPENMP_WHY", ["1 of 2 usable cores taken: the runtime's default (spinning)"])
    spin.passive_for_pairing()
    assert spin.openmp_policy() == "PASSIVE" and "paired run" in spin.openmp_why()
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setattr(spin, "_OPENMP_WHY", ["OMP_WAIT_POLICY was set before the session: the user's choice stands"])
    spin.passive_for_pairing()
    assert spin.openmp_policy() == "ACTIVE" and "user's choice" in spin.openmp_why()


def test_onnxruntime_sessions_record_the_policy_they_ran_with(monkeypatch):
    pytest.importorskip("onnxruntime")
    from pytest_aibench.artifact import resolve
    from pytest_aibench.registry import RUNNERS

    runner = RUNNERS.get("onnxruntime")
    artifact = resolve(ModelSpec(name="tiny", dataset="digits", zoo="tinycnn-digits"), "onnxruntime", "fp32", runner)
    monkeypatch.setattr(spin, "_NEIGHBOURS", [1.0])
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "1")
    cores = host_threads()
    for settings, expected in ((Settings(), False), (Settings(spin_wait=True), True)):
        session = runner.prepare(artifact, Node(threads=cores), settings)
        try:
            assert session.options["spin_wait"] is expected, session.options
            assert session.options["spin_why"]
        finally:
            session.close()


def test_torch_sessions_record_the_sessions_policy_and_why(monkeypatch):
    pytest.importorskip("torch")
    from pytest_aibench.artifact import resolve
    from pytest_aibench.registry import RUNNERS

    runner = RUNNERS.get("torch")
    artifact = resolve(ModelSpec(name="tiny", dataset="digits", zoo="tinycnn-digits"), "torch", "fp32", runner)
    monkeypatch.setattr(spin, "_OPENMP_WHY", ["set by the session for its torch items: a reason"])
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    session = runner.prepare(artifact, Node(threads=1), Settings())
    try:
        assert session.options["spin_wait"] is False
        assert session.options["spin_why"] == "set by the session for its torch items: a reason"
    finally:
        session.close()


SUITE = """\
suite: spin
version: "1.0"
datasets:
  digits: {source: digits}
models:
  tiny: {zoo: tinycnn-digits}
  dedicated: {zoo: tinycnn-digits, settings: {spin_wait: false}}
frameworks: [onnxruntime]
quantizations: [fp32]
settings: {eval_samples: 64, latency_samples: 5, warmup: 1, threads: 1}
"""


@pytest.mark.slow
def test_items_record_whether_their_threads_spun_and_why(pytester: pytest.Pytester) -> None:
    pytest.importorskip("onnxruntime")
    if host_threads() < 2:
        pytest.skip("one usable core: a 1-thread item takes it all")
    (Path(pytester.path) / "suite.yaml").write_text(SUITE)
    pytester.runpytest(
        "--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json"
    ).assert_outcomes(passed=2)
    items = json.loads((Path(pytester.path) / "run.json").read_text())["items"]
    spun = {i["id"].split("::")[1].split("[")[0]: json.dumps(i) for i in items}
    assert '"spin_wait": true' in spun["tiny"] and "usable cores taken" in spun["tiny"]  # a core left
    assert '"spin_wait": false' in spun["dedicated"] and "set by the manifest" in spun["dedicated"]
