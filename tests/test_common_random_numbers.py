"""Conditions under comparison share their random numbers: a link, a runtime or a quantization never
changes an item's seed, so a difference between two items is the condition's, not seed noise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SUITE = """\
suite: crn
version: "1"
datasets:
  digits: {source: digits, split_seed: 0}
models:
  tiny: {zoo: tinycnn-digits}
frameworks: [torch]
paradigms: [federated_learning, lifelong_learning]
topologies:
  good: {edge: rpi4, cloud: cloud, edges: 2, uplink: {latency_ms: 5, bandwidth_mbps: 1000}}
  bad: {edge: rpi4, cloud: cloud, edges: 2, uplink: {latency_ms: 300, bandwidth_mbps: 2, jitter_ms: 50}}
params:
  federated_learning: {clients: 2, rounds: 2}
  lifelong_learning: {tasks: [original, rotated], epochs: 1}
metrics: [accuracy, collaborative, training]
settings: {eval_samples: 150, batch_size: 64}
"""


@pytest.mark.slow
def test_the_same_item_on_two_links_without_faults_learns_the_same_model(pytester: pytest.Pytester) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("simpy")
    (Path(pytester.path) / "suite.yaml").write_text(SUITE)
    result = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json", timeout=600)
    result.assert_outcomes(passed=4)
    items = json.loads((Path(pytester.path) / "r.json").read_text())["items"]
    by = {(i["axes"]["paradigm"], i["axes"]["topology"]): i for i in items}
    for paradigm in ("federated_learning", "lifelong_learning"):
        good, bad = by[(paradigm, "good")], by[(paradigm, "bad")]
        assert good["seed"] == bad["seed"]
        assert good["metrics"]["accuracy"] == bad["metrics"]["accuracy"], paradigm
        assert good["info"]["seed_keys"] == {"suite": "crn", "model": "tiny", "paradigm": paradigm,
                                             "dataset": "digits"}
    fl_good, fl_bad = by[("federated_learning", "good")], by[("federated_learning", "bad")]
    assert fl_bad["metrics"]["fl"]["sim_time_s"] > fl_good["metrics"]["fl"]["sim_time_s"]  # the link still counts
    assert by[("federated_learning", "good")]["seed"] != by[("lifelong_learning", "good")]["seed"]


def test_seed_from_names_axes_that_should_get_their_own_numbers(tmp_path: Path) -> None:
    from pytest_aibench.manifest.loader import ManifestError, load

    path = tmp_path / "s.yaml"
    path.write_text(SUITE + "seed_from: [topology]\n")
    cases = load(path, lambda name: True).cases
    seeds = {c.axis("topology"): c.seed(0) for c in cases if c.paradigm == "lifelong_learning"}
    assert seeds["good"] != seeds["bad"]
    path.write_text(SUITE + "seed_from: [topolgy]\n")
    with pytest.raises(ManifestError, match=r"seed_from.0: 'topolgy' is not an axis or variable.*did you mean 'topology'"):
        load(path, lambda name: True)
