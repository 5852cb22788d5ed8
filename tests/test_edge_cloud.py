"""Simulated nodes, links and the collaborative paradigms: the models of time, seeded reproducibility,
grids, and the shipped edge-cloud suite."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from pytest_aibench.paradigms.federated import partition
from pytest_aibench.sim.links import Channel, Link
from pytest_aibench.sim.node import PROFILES, profile

ROOT = Path(__file__).resolve().parents[1]


def test_link_transfer_is_serialisation_plus_propagation_and_outages_drop():
    ch = Channel(Link(latency_ms=10, bandwidth_mbps=8, outages=((1.0, 2.0),)), np.random.default_rng(0))
    assert ch.transfer(1_000_000, 0.0) == pytest.approx(1.0 + 0.010)  # 8 Mbit over 8 Mbit/s, plus 10 ms
    assert ch.transfer(10, 1.5) is None and ch.failures == 1
    assert ch.bytes_sent == 1_000_000 and ch.transfers == 1


def test_loss_retransmits_and_jitter_is_seeded():
    a = Channel(Link(latency_ms=5, bandwidth_mbps=100, jitter_ms=3, loss=0.3), np.random.default_rng(1))
    b = Channel(Link(latency_ms=5, bandwidth_mbps=100, jitter_ms=3, loss=0.3), np.random.default_rng(1))
    ta = [a.transfer(10_000, i) for i in range(50)]
    assert ta == [b.transfer(10_000, i) for i in range(50)]
    assert a.retransmissions > 5 and a.bytes_sent == 10_000 * (50 + a.retransmissions)


def test_mm1_queueing_as_edgecloudsim_models_it():
    link = Link(bandwidth_mbps=8, shared_by=4)  # mu = 1e6 B/s / 100_000 B = 10 tasks/s
    assert link.queueing_s(100_000, 1.0) == pytest.approx(1 / (10 - 4) - 1 / 10)
    assert math.isinf(link.queueing_s(100_000, 3.0))  # 4 devices x 3/s >= 10/s: saturated


def test_partitions_cover_the_data_and_dirichlet_skews_them():
    y = np.repeat(np.arange(10), 100)
    iid = partition(y, 5, None, seed=0)
    skew = partition(y, 5, 0.1, seed=0)
    for parts in (iid, skew):
        assert sorted(np.concatenate(parts).tolist()) == list(range(1000))
    classes_per_client = [len(np.unique(y[p])) for p in skew]
    assert min(len(np.unique(y[p])) for p in iid) == 10 and min(classes_per_client) < 10
    assert [p.tolist() for p in partition(y, 5, 0.1, seed=0)] == [p.tolist() for p in skew]


def test_profiles_cover_the_device_classes_and_can_be_amended():
    kinds = {p.kind for p in PROFILES.values()}
    assert {"microcontroller", "raspberry-pi", "jetson", "edge-server", "cloud-server"} <= kinds
    tweaked = profile("rpi4", {"gflops": 12.0, "name": "rpi4-oc"})
    assert tweaked.gflops == 12.0 and tweaked.memory_mb == PROFILES["rpi4"].memory_mb
    with pytest.raises(KeyError, match="did you mean 'rpi4'"):
        profile("rpi5")
    assert dict(tweaked.sources)["gflops"] == "the manifest's nodes: entry"
    assert dict(tweaked.sources)["max_w"] == dict(PROFILES["rpi4"].sources)["max_w"]


def test_every_figure_of_every_profile_cites_a_source_with_its_date_or_says_illustrative():
    for name, node in PROFILES.items():
        sources = dict(node.sources)
        for figure in ("idle_w", "max_w", "gflops", "memory_mb", "price_per_hour", "speedup"):
            if getattr(node, figure) in (None, ()):
                assert figure not in sources or figure == "gflops" and node.calibrated, (name, figure)
                continue
            why = sources.get(figure, "")
            cited = re.search(r"https://\S+ \([^)]*(19|20)\d\d\)", why)
            assert cited or why.startswith(("illustrative: ", "measured: ")), f"{name}.{figure}: {why!r}"
    assert PROFILES["host"].calibrated and PROFILES["host"].gflops is None  # measured at run start, not assumed
    assert "measured" in dict(PROFILES["host"].sources)["gflops"]


def copy_suite(pytester, extra: str = "", replace: tuple[str, str] | None = None) -> None:
    text = (ROOT / "suites" / "edge-cloud" / "suite.yaml").read_text() + extra
    if replace:
        text = text.replace(*replace)
    (Path(pytester.path) / "suite.yaml").write_text(text)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def sim_fields(path: Path) -> dict[str, dict]:
    out = {}
    for item in json.loads(path.read_text())["items"]:
        flat = _flatten(item["metrics"])
        out[item["id"]] = {
            k: v
            for k, v in flat.items()
            if k.startswith(("sim.", "fl.", "il.", "ll.", "bytes.", "offload")) or k == "accuracy"
        }
        out[item["id"]]["rounds"] = item["info"].get("accuracy_per_round")
    return out


@pytest.mark.slow
def test_same_seed_same_accuracy_and_simulated_times_serial_and_xdist(pytester):
    pytest.importorskip("torch")
    pytest.importorskip("simpy")
    copy_suite(pytester)
    pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "a.json").assert_outcomes(passed=14)
    pytester.runpytest_subprocess("--aibench", "suite.yaml", "-n", "2", "--aibench-json", "b.json").assert_outcomes(
        passed=14
    )
    a, b = sim_fields(Path(pytester.path) / "a.json"), sim_fields(Path(pytester.path) / "b.json")
    assert a == b
    joint = a["edge-cloud::small[torch-fp32-joint_inference-bad]"]
    assert joint["offload_ratio"] > 0 and joint["sim.latency.p99_ms"] > joint["sim.latency.p50_ms"]
    cloud_bad = a["edge-cloud::small[torch-fp32-cloud_only-bad]"]
    assert (
        cloud_bad["sim.availability"] < 1.0
        and cloud_bad["accuracy"] < a["edge-cloud::small[torch-fp32-cloud_only-good]"]["accuracy"]
    )
    fl = a["edge-cloud::large[torch-fp32-federated_learning-good]"]
    assert len(fl["rounds"]) == 8 and fl["bytes.up"] > 0
    ll = a["edge-cloud::large[torch-fp32-lifelong_learning-good]"]
    assert ll["accuracy"] == pytest.approx(ll["ll.average_accuracy"], abs=1e-12)  # the headline is the mean over tasks
    # one model per task in the knowledge base: a later task cannot overwrite an earlier one, so GEM's
    # backward transfer is 0 by construction and absent; Ianvs's BWT (round-to-round change) is reported
    assert "ll.gem_bwt" not in ll and "ll.forgetting" not in ll and isinstance(ll["ll.bwt"], float)


def test_outage_falls_back_to_the_edge_answer(pytester):
    pytest.importorskip("torch")
    copy_suite(pytester)
    result = pytester.runpytest("--aibench", "suite.yaml", "-k", "joint_inference and bad", "--aibench-json", "r.json")
    result.assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "r.json").read_text())["items"]
    assert item["metrics"]["outage_fallbacks"] > 0
    assert item["metrics"]["accuracy"] >= item["metrics"]["accuracy_edge_only"]


@pytest.mark.slow
def test_grid_points_are_items_with_constraints_and_seeded_sampling(pytester):
    pytest.importorskip("torch")
    copy_suite(
        pytester,
        extra="grid:\n  params: {threshold: [0.5, 0.7, 0.9, 0.99], interval_s: [0.01, 0.05]}\n"
        "  exclude:\n    - {threshold: 0.99, interval_s: 0.01}\n  sample: {n: 5, seed: 3}\n",
    )
    items, _ = pytester.inline_genitems("--aibench", "suite.yaml")
    assert len(items) == 14 * 5  # every combination at each of the 5 sampled points
    ids = [i.name for i in items if "joint_inference-good" in i.name]
    assert len(ids) == 5 and all("threshold_" in i and "interval_s_" in i for i in ids)
    assert "small[torch-fp32-joint_inference-good-threshold_0.99-interval_s_0.01]" not in ids
    again, _ = pytester.inline_genitems("--aibench", "suite.yaml")
    assert [
        i.name for i in again if "joint_inference-good" in i.name
    ] == ids  # seeded: the same sample every time (and on every xdist worker)
    result = pytester.runpytest("--aibench", "suite.yaml", "-k", "joint_inference and good", "--aibench-json", "r.json")
    result.assert_outcomes(passed=5)
    got = {
        json.dumps(i["info"]["joint"]["threshold"])
        for i in json.loads((Path(pytester.path) / "r.json").read_text())["items"]
    }
    assert len(got) > 1  # each point's parameters reached the paradigm


def test_a_model_that_does_not_fit_the_node_fails_with_the_reason(pytester):
    pytest.importorskip("torch")
    copy_suite(
        pytester,
        extra="nodes:\n  tiny_mcu: {profile: mcu, memory_mb: 0.001}\n",
        replace=("  good:\n    edge: rpi4", "  good:\n    edge: tiny_mcu"),
    )
    result = pytester.runpytest("--aibench", "suite.yaml", "-k", "edge_only and good")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*needs about * MiB (weights x3) but the edge node 'tiny_mcu' has 0.001 MiB: it does not fit*"]
    )


def test_unknown_node_profile_is_a_manifest_error(pytester):
    copy_suite(pytester, replace=("  good:\n    edge: rpi4", "  good:\n    edge: rpi5"))
    result = pytester.runpytest("--aibench", "suite.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*topologies.good.edge: unknown node 'rpi5'; built in: mcu, rpi4*did you mean 'rpi4'?"]
    )


def test_topology_fixtures_in_a_handwritten_test(pytester):
    pytester.makepyfile(
        test_topo="""
        def test_edges(aibench_topology, edge_node, cloud_node):
            assert edge_node.name == "rpi4" and cloud_node.gflops > edge_node.gflops
            assert aibench_topology.uplink.bandwidth_mbps > 0
    """
    )
    pytester.runpytest("test_topo.py").assert_outcomes(passed=1)
