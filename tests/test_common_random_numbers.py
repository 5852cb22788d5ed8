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
        assert good["info"]["seed_keys"] == {"suite": "crn", "model": "tiny", "paradigm": paradigm, "dataset": "digits"}
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
    with pytest.raises(
        ManifestError, match=r"seed_from.0: 'topolgy' is not an axis or variable.*did you mean 'topology'"
    ):
        load(path, lambda name: True)


@pytest.mark.slow
def test_seeds_n_reports_the_mean_and_interval_over_the_same_seeds_for_every_condition(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("simpy")
    text = SUITE.replace(
        "paradigms: [federated_learning, lifelong_learning]", "paradigms: [lifelong_learning]"
    ).replace(
        "settings: {eval_samples: 150, batch_size: 64}", "settings: {eval_samples: 150, batch_size: 64, seeds: 3}"
    )
    (Path(pytester.path) / "suite.yaml").write_text(text)
    result = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json", timeout=600)
    result.assert_outcomes(passed=2)
    items = {i["axes"]["topology"]: i for i in json.loads((Path(pytester.path) / "r.json").read_text())["items"]}
    good, bad = items["good"], items["bad"]
    chosen = good["info"]["seeds"]["seeds"]
    assert len(set(chosen)) == 3 and chosen[0] == good["seed"] and chosen == bad["info"]["seeds"]["seeds"]
    per_seed = [s["accuracy"] for s in good["info"]["seeds"]["per_seed"]]
    assert len(set(per_seed)) > 1  # the seeds differ: a spread to judge a difference against
    seeds = good["metrics"]["seeds"]
    assert seeds["n"] == 3 and good["metrics"]["accuracy"] == pytest.approx(sum(per_seed) / 3)
    assert seeds["accuracy_ci_low"] < good["metrics"]["accuracy"] < seeds["accuracy_ci_high"]
    assert good["metrics"]["accuracy"] == bad["metrics"]["accuracy"]  # the same seeds on both links


def test_seed_list_is_the_items_seed_then_derived_ones_and_the_interval_is_students() -> None:
    from pytest_aibench.run.seeds import combine, interval, seed_list

    assert seed_list(5, 3)[0] == 5 and seed_list(5, 3) == seed_list(5, 3) and len(set(seed_list(5, 4))) == 4
    mean, sd, lo, hi = interval([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9) and sd == pytest.approx(0.1)
    assert hi - mean == pytest.approx(4.303 * 0.1 / 3**0.5)
    metrics, record = combine(
        [{"accuracy": 0.8, "fl.rounds": 2, "note": "a"}, {"accuracy": 1.0, "fl.rounds": 2, "note": "b"}], [1, 2]
    )
    assert metrics["accuracy"] == pytest.approx(0.9) and metrics["note"] == "a" and metrics["seeds.n"] == 2
    assert record["per_seed"] == [{"accuracy": 0.8}, {"accuracy": 1.0}]


def test_a_change_within_the_seeds_spread_is_not_a_regression() -> None:
    from pytest_aibench.core.result import Result
    from pytest_aibench.judge.catalogue import known_metric_names
    from pytest_aibench.judge.compare import judge, parse_rules

    (rule,) = parse_rules("accuracy:-0.01", known_metric_names())

    def res(acc: float, lo: float, hi: float) -> Result:
        return Result(
            id="s::m[t]",
            suite="s",
            model="m",
            axes={},
            seed=1,
            metrics={"accuracy": acc, "seeds.n": 5, "seeds.accuracy_ci_low": lo, "seeds.accuracy_ci_high": hi},
        )

    noisy = judge(rule, res(0.90, 0.86, 0.94), res(0.87, 0.83, 0.91))
    assert not noisy.regressed and "within the seeds' spread" in noisy.evidence
    real = judge(rule, res(0.90, 0.89, 0.91), res(0.80, 0.79, 0.81))
    assert real.regressed and "disjoint" in real.evidence
    plain = judge(
        rule,
        Result(id="x", suite="s", model="m", axes={}, metrics={"accuracy": 0.9}),
        Result(id="x", suite="s", model="m", axes={}, metrics={"accuracy": 0.8}),
    )
    assert plain.regressed and "exact comparison" in plain.evidence
