"""Collaborative and AutoML paradigms, by their arithmetic: FedAvg on known updates, outages that
time runs through, nothing learned from undelivered data, lifelong learning's knowledge base and task
detection, user algorithms from the manifest's folder, and AIPerf's search and score."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pytest_aibench.paradigms.lifelong import KnowledgeBase
from pytest_aibench.paradigms.search import aiperf_score
from pytest_aibench.paradigms.stages import confidence_mining, entropy_mining, fedavg, fedavg_unweighted
from pytest_aibench.sim.links import Channel, Link

torch = pytest.importorskip("torch")

SUITE = """\
suite: p
version: "1"
datasets:
  digits: {source: digits, split_seed: 0}
models:
  large: {zoo: tinycnn-digits}
frameworks: [torch]
quantizations: [fp32]
paradigms: [PARADIGM]
topologies:
  net:
    edge: rpi4
    cloud: cloud
    edges: 4
    uplink: {latency_ms: 10, bandwidth_mbps: 100, outages: OUTAGES}
    downlink: {latency_ms: 10, bandwidth_mbps: 100, outages: OUTAGES}
params:
  PARADIGM: PARAMS
metrics: [accuracy, collaborative, training]
settings: {eval_samples: 200, batch_size: 64}
"""


def run(
    pytester, paradigm: str, params: str, outages: str = "[]", files: dict[str, str] | None = None, *args: str
) -> dict:
    text = SUITE.replace("PARADIGM", paradigm).replace("PARAMS", params).replace("OUTAGES", outages)
    (Path(pytester.path) / "suite.yaml").write_text(text)
    for name, body in (files or {}).items():
        (Path(pytester.path) / name).write_text(body)
    result = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json", *args)
    result.assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "r.json").read_text())["items"]
    return item


def test_fedavg_is_the_sample_weighted_mean_of_known_updates():
    template = {"w": torch.zeros(2), "n": torch.zeros(1, dtype=torch.int64)}
    updates = [
        ({"w": torch.tensor([1.0, 0.0]), "n": torch.tensor([2])}, 1),
        ({"w": torch.tensor([3.0, 4.0]), "n": torch.tensor([6])}, 3),
    ]
    out = fedavg(updates, template)
    assert out["w"].tolist() == [2.5, 3.0] and out["n"].tolist() == [5] and out["n"].dtype == torch.int64
    assert fedavg_unweighted(updates, template)["w"].tolist() == [2.0, 2.0]


def test_hard_example_mining_rules_count_what_they_route():
    conf = np.array([0.30, 0.55, 0.89, 0.90, 0.99])
    assert confidence_mining(conf, 0.9).tolist() == [True, True, True, False, False]
    # binary entropy of 0.55 is 0.993 bits, of 0.89 0.500 bits, of 0.99 0.081 bits
    assert entropy_mining(conf, 0.6).tolist() == [True, True, False, False, False]


def test_a_sender_waits_out_an_outage_and_time_passes_through_it():
    link = Link(latency_ms=10, bandwidth_mbps=8, outages=((1.0, 5.0),))
    ch = Channel(link, np.random.default_rng(0))
    assert ch.transfer_waiting(1000, 2.0) == pytest.approx(3.0 + 0.010 + 0.001)  # back at 5 s, then 1 kB
    assert ch.transfer_waiting(1000, 2.0, retry_s=0.7) == pytest.approx(3.5 + 0.011)  # tries at 2, 2.7, ... 4.8, 5.5
    assert ch.up_at(0.5) == 0.5 and ch.up_at(4.9) == 5.0


@pytest.mark.slow
def test_federated_time_runs_through_a_total_outage_and_waiting_loses_nothing(pytester):
    pytest.importorskip("simpy")
    params = "{clients: 4, rounds: 3, local_epochs: 1, lr: 0.05, deadline_s: 1000, straggler_sigma: 0.0}"
    clear = run(pytester, "federated_learning", params)
    cut = run(pytester, "federated_learning", params, "[[0.0, 5.0]]")
    # every client waits for the link: the same updates arrive, 5 s later, so the same model results
    assert cut["metrics"]["accuracy"] == clear["metrics"]["accuracy"]
    assert cut["metrics"]["fl"]["sim_time_s"] >= clear["metrics"]["fl"]["sim_time_s"] + 5.0 - 1e-9
    assert cut["metrics"]["fl"]["retries"] > 0 and clear["metrics"]["fl"]["retries"] == 0


@pytest.mark.slow
def test_skipping_clients_in_an_endless_outage_train_nothing_and_the_clock_still_moves(pytester):
    pytest.importorskip("simpy")
    params = "{clients: 4, rounds: 3, on_outage: skip, retry_s: 0.5}"
    item = run(pytester, "federated_learning", params, "[[0.0, 1000.0]]")
    assert item["metrics"]["fl"]["sim_time_s"] == pytest.approx(1.5)  # three empty rounds of retry_s each
    assert [r["clients"] for r in item["info"]["rounds"]] == [0, 0, 0]
    assert len(set(item["info"]["accuracy_per_round"])) == 1  # the untrained model, never aggregated


@pytest.mark.slow
def test_incremental_learning_never_trains_on_hard_examples_stuck_behind_an_outage(pytester):
    item = run(
        pytester,
        "incremental_learning",
        "{rounds: 3, threshold: 0.99, epochs: 1, initial_fraction: 0.1}",
        "[[0.0, 1000.0]]",
    )
    il, rounds = item["metrics"]["il"], item["info"]["rounds"]
    assert not any(r["delivered"] for r in rounds) and il["samples_transfer_ratio"] == 0
    assert il["undelivered"] == sum(r["hard_examples"] for r in rounds) > 0
    assert il["trained_on"] < rounds[0]["arrived"]  # the pool stayed the initial 10 %


def test_knowledge_base_detects_known_tasks_and_calls_a_far_one_unseen():
    rng = np.random.default_rng(0)
    kb = KnowledgeBase()
    a, b = rng.random((50, 1, 8, 8)), 1.0 - rng.random((50, 1, 8, 8)) ** 4
    kb.learn("a", None, a)
    kb.learn("b", None, b)
    assert kb.nearest(a[:20], 0.25) == "a" and kb.nearest(b[20:], 0.25) == "b"
    assert kb.nearest(a * 5.0, 0.25) is None and kb.nearest(a * 5.0) in ("a", "b")


@pytest.mark.slow
def test_lifelong_headline_is_the_mean_over_tasks_and_tasks_are_detected(pytester):
    item = run(pytester, "lifelong_learning", "{tasks: [original, rotated, inverted], epochs: 1, lr: 0.05}")
    ll, acc = item["metrics"]["ll"], item["metrics"]["accuracy"]
    per_task = ll["task_accuracy"]
    assert acc == pytest.approx(np.mean(list(per_task.values())), abs=1e-12) == pytest.approx(ll["average_accuracy"])
    assert ll["task_detection_accuracy"] == 1.0 and ll["known_tasks"] == 3 and ll["unseen_at_training"] == 3
    matrix = item["info"]["accuracy_matrix"]
    # Ianvs's definitions on the matrix whose row 0 is the untrained model
    rows = [item["info"]["random_init_accuracy"], *matrix]
    assert ll["bwt"] == pytest.approx(np.mean([rows[i + 1][j] - rows[i][j] for i in range(3) for j in range(3)]))
    assert ll["fwt"] == pytest.approx(np.mean([rows[i][i] - rows[0][i] for i in range(3)]))
    # every task kept its own model and was routed to it: GEM's BWT and forgetting are 0 by construction, absent
    assert "forgetting" not in ll and "gem_bwt" not in ll


def test_ianvs_transfer_matches_its_compute():
    from pytest_aibench.paradigms.lifelong import ianvs_transfer

    rows = [[0.1, 0.1], [0.9, 0.2], [0.7, 0.8]]
    assert ianvs_transfer(rows) == {
        "ll.bwt": pytest.approx(((0.8 + 0.1) + (-0.2 + 0.6)) / 4),
        "ll.fwt": pytest.approx(((0.1 - 0.1) + (0.2 - 0.1)) / 2),
    }
    assert ianvs_transfer([[0.5]]) == {} and ianvs_transfer([[0.1, 0.2], [0.3]]) == {}


USER = '''
def first_client(updates, template):
    """A user aggregation: the first arrived client's weights, as they are."""
    return updates[0][0]


def never(x, knowledge_base, threshold):
    """A user task detector that recognises nothing: every task is unseen."""
    return None
'''


@pytest.mark.slow
def test_user_algorithms_from_the_suite_folder_replace_a_stage(pytester):
    pytest.importorskip("simpy")
    fl = run(
        pytester,
        "federated_learning",
        "{clients: 2, rounds: 1, aggregation: 'algos:first_client'}",
        files={"algos.py": USER},
    )
    assert fl["metrics"]["fl"]["final_accuracy"] > 0
    ll = run(
        pytester,
        "lifelong_learning",
        "{tasks: [original, rotated], epochs: 1, task_detection: 'algos:never'}",
        files={"algos.py": USER},
    )
    assert ll["metrics"]["ll"]["known_tasks"] == 2 and ll["info"]["task_detection"] == "algos:never"
    assert all(v.startswith("unseen") for v in ll["info"]["learning_log"][-1]["routing"].values())


def test_a_stage_outside_the_suite_folder_is_refused_at_collection(pytester):
    text = (
        SUITE.replace("PARADIGM", "federated_learning")
        .replace("PARAMS", "{aggregation: 'os:system'}")
        .replace("OUTAGES", "[]")
    )
    (Path(pytester.path) / "suite.yaml").write_text(text)
    result = pytester.runpytest_subprocess("--aibench", "suite.yaml")
    result.stderr.fnmatch_lines(
        [
            "*suite.yaml:18: params.federated_learning.aggregation: stage 'os:system': "
            "module 'os' is not a file in the manifest's folder*"
        ]
    )
    assert result.ret != 0


def test_aiperf_score_is_flops_regulated_by_the_best_accuracy():
    assert aiperf_score(1e12, 10.0, 0.9) == pytest.approx(1e11 * math.log(10))
    assert aiperf_score(1e12, 10.0, 0.0) == 0.0 and aiperf_score(1e12, 0.0, 0.5) == 0.0


@pytest.mark.slow
def test_search_mutates_the_best_trial_and_scores_like_aiperf(pytester):
    params = "{widths: [0.25, 0.5], depths: [1.0], epochs: [1], parallel: 2, max_trials: 4}"
    text = (
        SUITE.replace("PARADIGM", "search")
        .replace("PARAMS", params)
        .replace("OUTAGES", "[]")
        .replace("large: {zoo: tinycnn-digits}", "large: {zoo: squeezenet-shapes, dataset: shapes}")
        .replace(
            "  digits: {source: digits, split_seed: 0}",
            "  shapes: {source: shapes, split_seed: 0, params: {samples: 400, size: 32, classes: 10, seed: 1}}",
        )
        .replace("settings: {", "settings: {search_budget_s: 600, ")
    )
    (Path(pytester.path) / "suite.yaml").write_text(text)
    pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json").assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "r.json").read_text())["items"]
    a, trials = item["metrics"]["aiperf"], item["info"]["trials"]
    assert a["trials"] == len(trials) == 4 and [t["generation"] for t in trials] == [0, 0, 1, 1]
    best = max(t["accuracy"] for t in trials)
    assert a["best_accuracy"] == best == item["metrics"]["accuracy"]
    assert a["total_flops"] == sum(t["flops"] for t in trials)
    assert a["score"] == pytest.approx(a["total_flops"] / a["seconds"] * abs(math.log(1 - best)))
    rules = item["info"]["rules"]
    assert (
        rules["judged_by"] == "scaled"
        and rules["limits"]["min_seconds"] == 600
        and rules["published"]["min_seconds"] == 3600
    )
    assert a["valid"] is False and rules["met"]["min_seconds"] is False  # 4 trials stop before the 600 s budget
    assert (a["random_trials"], a["mutated_trials"]) == (2, 2) and [t["origin"] for t in trials] == [
        "random",
        "random",
        "mutated",
        "mutated",
    ]
    # a budget the first trial spends: no trial starts after it, so the search overruns by at most that trial
    (Path(pytester.path) / "suite.yaml").write_text(text.replace("search_budget_s: 600", "search_budget_s: 0.5"))
    pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "b.json").assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "b.json").read_text())["items"]
    a, (only,) = item["metrics"]["aiperf"], item["info"]["trials"]
    assert a["trials"] == 1 and a["mutated_trials"] == 0 and a["over_budget_s"] <= only["wall_s"] + 0.5
    assert a["valid"] is False and item["info"]["rules"]["met"]["searched"] is False  # no search, no AIPerf result


@pytest.mark.slow
def test_single_task_and_federated_class_incremental_learning_run(pytester):
    pytest.importorskip("simpy")
    stl = run(pytester, "single_task_learning", "{epochs: 1}")
    # one epoch from scratch: well above the 10 classes' chance (0.1); where it lands depends on the CPU's float
    # kernels (0.475 on an AVX2-only Zen 3, above 0.5 on AVX-512 machines)
    assert stl["metrics"]["stl"]["train_samples"] > 0 and stl["metrics"]["accuracy"] > 0.3
    fcil = run(pytester, "federated_class_incremental_learning", "{clients: 2, tasks: 2, rounds_per_task: 1}")
    matrix = fcil["info"]["accuracy_matrix"]
    assert [len(r) for r in matrix] == [1, 2]
    assert fcil["metrics"]["fcil"]["forgetting"] == pytest.approx(matrix[0][0] - matrix[1][0])
    assert fcil["metrics"]["fcil"]["average_incremental_accuracy"] == pytest.approx(
        np.mean([np.mean(r) for r in matrix])
    )
