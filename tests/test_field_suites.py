"""The rest of the field's benchmarks as suites: Edge AI Bench scenarios (and their metrics), Jetson /
AIIA device tables, AIPerf AutoML trials and MLPerf-style training to quality, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_aibench.judge.metrics import Binary, Retrieval
from pytest_aibench.measure import Measurement

ROOT = Path(__file__).resolve().parents[1]


def run_items(path: Path) -> dict[str, dict]:
    return {i["id"]: i for i in json.loads(path.read_text())["items"]}


def copy_suite(pytester, name: str, replace: tuple[str, str] | None = None) -> None:
    text = (ROOT / "suites" / name / "suite.yaml").read_text()
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    (Path(pytester.path) / "suite.yaml").write_text(text)


# -- metrics -----------------------------------------------------------------------------------------
def test_binary_metrics_count_the_event_class_and_unanswered_inputs_as_wrong():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, -1])  # 3 of 4 events caught, 1 false alarm, 1 unanswered
    got = Binary().compute(Measurement(predictions=p, labels=y))
    assert got["binary.sensitivity"] == pytest.approx(3 / 4) and got["binary.specificity"] == pytest.approx(4 / 6)
    assert got["binary.precision"] == pytest.approx(3 / 4)
    assert got["binary.f1"] == pytest.approx(0.75) and got["binary.balanced_accuracy"] == pytest.approx(
        (3 / 4 + 4 / 6) / 2
    )
    assert Binary().compute(Measurement(predictions=np.array([0, 2]), labels=np.array([0, 2]))) == {}  # not binary


def test_retrieval_ranks_every_other_sample_by_cosine_similarity():
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.4], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 1, 2])  # identity 2 has a single sample: not a query
    got = Retrieval().compute(Measurement(scores=emb, labels=labels))
    # query 0 -> 1 (hit); 1 -> 0 (hit); 2 -> 4, 3, ... (hit at rank 2); 3 -> 1, 0, ... (hit at rank 4)
    assert got["retrieval.queries"] == 4 and got["retrieval.rank1"] == pytest.approx(0.5)
    assert got["retrieval.map"] == pytest.approx((1 + 1 + 1 / 2 + 1 / 4) / 4)
    assert got["retrieval.rank5"] == 1.0
    assert Retrieval().compute(Measurement(labels=labels)) == {}  # no output vectors: nothing to rank


def test_lstm_flops_are_counted_analytically():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from pytest_aibench.builder import count_flops
    from pytest_aibench.zoo import build_module

    model = build_module("lstm", {"num_classes": 2, "in_channels": 5, "hidden": 16}).eval()
    lstm, head = model.lstm, model.head
    cell = torch.nn.LSTMCell(5, 16)  # the same work, one step at a time: torch's counter sees these matmuls
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        h = c = torch.zeros(1, 16)
        for _ in range(12):
            h, c = cell(torch.zeros(1, 5), (h, c))
        head(h)
    # the counter sees the gates' matmuls; the analytic count adds biases, activations and the cell
    # update (14 operations per hidden unit and step), which it does not count
    assert count_flops(model, (1, 12, 5)) == fc.get_total_flops() + 12 * 14 * 16
    assert count_flops(model, (3, 12, 5)) == 3 * count_flops(model, (1, 12, 5))
    _ = lstm


def test_litert_runs_a_fixed_batch_model_in_chunks():
    pytest.importorskip("ai_edge_litert")
    from pytest_aibench.artifact import resolve
    from pytest_aibench.core.model import ModelSpec, Settings
    from pytest_aibench.registry import RUNNERS
    from pytest_aibench.sim.node import Node

    runner = RUNNERS.get("litert")
    artifact = resolve(ModelSpec(name="icu", dataset="v", zoo="lstm-vitals"), "litert", "fp32", runner)
    session = runner.prepare(artifact, Node(threads=1), Settings())
    x = session.adapt(np.random.default_rng(0).standard_normal((7, 48, 5)).astype(np.float32))
    whole = session.infer(x)
    one_by_one = np.concatenate([session.infer(x[i : i + 1]) for i in range(7)])
    assert whole.shape == (7, 2) and np.array_equal(whole, one_by_one)
    assert "chunks" in session.options["static_batch"]


# -- suites ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_edge_ai_scenarios_measure_their_own_quality_on_edge_and_cloud(pytester):
    pytest.importorskip("onnxruntime")
    copy_suite(pytester, "edge-ai")
    result = pytester.runpytest("--aibench", "suite.yaml", "-k", "onnxruntime-fp32", "--aibench-json", "r.json")
    result.assert_outcomes(passed=26)
    result.stdout.fnmatch_lines(
        ["*sens*spec*rank-1*mAP*sim FPS*", "detection: ranked by detection.map", "lanes: ranked by lanes.accuracy"]
    )
    items = run_items(Path(pytester.path) / "r.json")
    icu = items["edge-ai::icu_monitor[onnxruntime-fp32-edge_only-ward]"]["metrics"]
    assert icu["binary"]["sensitivity"] >= 0.85 and "retrieval" not in icu
    reid = items["edge-ai::street_reid[onnxruntime-fp32-edge_only-street]"]["metrics"]
    assert reid["retrieval"]["rank1"] >= 0.7 and reid["retrieval"]["map"] > 0 and "binary" not in reid
    for item in items.values():
        m = item["metrics"]
        assert m["throughput"]["ips"] > 0 and m["energy"]["method"] in ("rapl", "model")
        assert m["sim"]["latency"]["p50_ms"] > 0 and m["latency"]["p50_ms"] > 0
    signs_cloud = items["edge-ai::vehicle_signs[onnxruntime-fp32-cloud_only-vehicle]"]["metrics"]
    assert signs_cloud["sim"]["availability"] < 1.0  # the tunnel: no answers from the cloud for 2 s
    datasets = {i["dataset"]["source"] for i in items.values()}
    assert datasets == {
        *("vitals", "lfw_subset", "reid", "signs", "street", "roads"),
        *("icu", "face_pairs", "clips", "keywords", "speech"),
    }
    edge = {k.split("[")[0].split("::")[1]: v["metrics"] for k, v in items.items() if "edge_only" in k}
    assert edge["icu_mortality"]["binary"]["auroc"] >= 0.7 and edge["icu_decompensation"]["binary"]["auprc"] > 0.3
    assert edge["icu_phenotyping"]["multilabel"]["macro_auroc"] >= 0.75
    assert edge["home_face_verification"]["verification"]["accuracy"] >= 0.85
    assert edge["street_action"]["action"]["top1"] >= 0.5 and edge["home_keywords"]["kws"]["top1"] >= 0.8
    assert edge["home_speech"]["speech"]["wer"] <= 0.5 and edge["home_speech"]["speech"]["frontend_ms_per_clip"] > 0
    lanes = items["edge-ai::lane_keeping[onnxruntime-fp32-edge_only-vehicle]"]["metrics"]
    assert lanes["lanes"]["accuracy"] >= 0.8 and "accuracy" not in lanes
    signs = {
        p: items[f"edge-ai::traffic_signs[onnxruntime-fp32-{p}-vehicle]"]["metrics"]
        for p in ("edge_only", "cloud_only")
    }
    assert signs["edge_only"]["detection"]["map_50"] >= 0.5
    # frames lost in the tunnel have no detections: the cloud's mAP is lower with the same model
    assert signs["cloud_only"]["detection"]["map"] < signs["edge_only"]["detection"]["map"]


def test_a_model_level_topology_must_be_defined(pytester):
    copy_suite(pytester, "edge-ai", replace=("topologies: [ward]", "topologies: [wards]"))
    result = pytester.runpytest("--aibench", "suite.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*models.icu_monitor.topologies.0: unknown topology 'wards'; the suite's "
            "topologies: ward, home, street, vehicle*did you mean 'ward'?"
        ]
    )


@pytest.mark.slow
def test_devices_table_ranks_profiles_by_fps_with_per_watt_price_and_accuracy_loss(pytester):
    pytest.importorskip("onnxruntime")
    copy_suite(pytester, "devices")
    result = pytester.runpytest("--aibench", "suite.yaml", "-k", "squeezenet", "--aibench-json", "r.json")
    result.assert_outcomes(passed=20, skipped=1)  # Jetson Nano's Maxwell GPU has no int8 path: not offered
    result.stdout.fnmatch_lines(
        [
            "*Δacc*sim FPS*FPS/W*FPS/price*",
            "* 1  squeezenet[[]*",
            "*squeezenet[[]onnxruntime-int8-edge_only-jetson_nano]*skipped: the jetson_nano profile "
            "has no int8 compute path*",
            "device figures (sim.*) are simulated by a roofline*not measured on the devices; on "
            "the calibrated host its own error is * % to * % (sim.error_pct*3 items)",
        ]
    )
    items = run_items(Path(pytester.path) / "r.json")
    fps = {q: {} for q in ("fp32", "int8", "fp16")}
    items = {k: v for k, v in items.items() if v["outcome"] == "passed"}
    for item in items.values():
        fps[item["axes"]["quantization"]][item["axes"]["topology"]] = item["metrics"]["sim"]
        if item["axes"]["quantization"] != "fp32":
            assert "accuracy_loss" in item["metrics"]
    # ranked by simulated FPS: first the fastest profile (cloud, or on a fast CPU the calibrated host)
    first = next(line for line in result.stdout.lines if line.startswith(" 1  squeezenet[")).split()[1]
    fastest = max(items.values(), key=lambda i: i["metrics"]["sim"]["fps"])
    assert fastest["id"].endswith(first), (first, fastest["id"])
    order = ["mcu", "rpi4", "jetson_nano", "jetson_orin", "mec", "cloud"]
    assert [fps["fp32"][p]["fps"] for p in order] == sorted(fps["fp32"][p]["fps"] for p in order)
    assert fps["int8"]["jetson_orin"]["fps"] > fps["fp32"]["jetson_orin"]["fps"]  # the profile's int8 speedup
    assert all(fps["fp32"][p]["fps_per_w"] > 0 and fps["fp32"][p]["fps_per_price"] > 0 for p in order)
    for q in fps:  # the host: calibrated by a GEMM, so its simulated latency is checked against the measured one
        host = fps[q]["host"]
        assert host["host_gflops"] > 0 and isinstance(host["error_pct"], float) and host["error_pct"] > -100
        assert "error_pct" not in fps[q]["rpi4"]
        # both models' errors against the measured latency are recorded; which is nearer depends on how loaded
        # the machine is now against when it was calibrated: benchmarks/roofline_error.py measures that, no
        # timed assertion here (it failed a CI run on a busy 2-core VM)
        assert isinstance(host["flops_only_error_pct"], float) and host["flops_only_error_pct"] > -100


AUTOML = """
suite: search
version: "1"
datasets:
  digits: {source: digits, split_seed: 0}
models:
  tiny: {zoo: tinycnn-digits}
frameworks: [torch]
paradigms: [trial]
grid:
  params: {width: [4, 8, 16], lr: [0.01, 0.03], epochs: [2, 3]}
  exclude:
    - {width: 4, epochs: 2}
  sample: {n: 4, seed: 0}
metrics: [accuracy, training]
gates:
  trial.accuracy: ">= MIN"
  trial.precision_bits: ">= 16"
"""


@pytest.mark.slow
def test_automl_trials_are_seeded_items_with_a_search_summary_and_validity_gates(pytester):
    pytest.importorskip("torch")
    # a floor every sampled trial clears (its seed is the same for every grid point: common random numbers)
    (Path(pytester.path) / "suite.yaml").write_text(AUTOML.replace("MIN", "0.3"))
    serial = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "a.json")
    serial.assert_outcomes(passed=4)
    serial.stdout.fnmatch_lines(
        [
            "search: best valid accuracy * after 4 trials (4 valid), * TFLOP and * trial-seconds*",
            "search: best so far (trial-seconds: accuracy): *",
        ]
    )
    pytester.runpytest_subprocess("--aibench", "suite.yaml", "-n", "2", "--aibench-json", "b.json").assert_outcomes(
        passed=4
    )
    a, b = (run_items(Path(pytester.path) / f) for f in ("a.json", "b.json"))
    assert a.keys() == b.keys() and all("width_" in k and "lr_" in k and "epochs_" in k for k in a)
    assert {k: v["metrics"]["trial"]["accuracy"] for k, v in a.items()} == {
        k: v["metrics"]["trial"]["accuracy"] for k, v in b.items()
    }  # seeded: the same trial, the same result
    run = json.loads((Path(pytester.path) / "a.json").read_text())
    search = run["suites"]["search"]["search"]
    accs = [v["metrics"]["trial"]["accuracy"] for v in a.values()]
    assert search["best_accuracy"] == max(accs) and search["total_train_flops"] == pytest.approx(
        sum(v["metrics"]["trial"]["train_flops"] for v in a.values())
    )
    assert [p["best_accuracy"] for p in search["best_over_time"]] == sorted(
        p["best_accuracy"] for p in search["best_over_time"]
    )
    # AIPerf's validity rule: a trial under the minimum accuracy fails and does not count as the best
    cut = sorted(accs)[1] + 1e-9
    (Path(pytester.path) / "suite.yaml").write_text(AUTOML.replace("MIN", f"{cut:.9f}"))
    strict = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "c.json")
    strict.assert_outcomes(passed=2, failed=2)
    assert json.loads((Path(pytester.path) / "c.json").read_text())["suites"]["search"]["search"]["valid_trials"] == 2


TRAINING = """
suite: ttq
version: "1"
datasets:
  digits: {source: digits, split_seed: 0}
models:
  tiny: {zoo: tinycnn-digits}
frameworks: [torch]
paradigms: [train_to_quality, serve_trained]
params:
  train_to_quality: {target_accuracy: 0.85, max_epochs: 8, lr: 0.01, seeds: [0, 1]}
  serve_trained: {target_accuracy: 0.85, max_epochs: 8, lr: 0.01}
metrics: [accuracy, latency, training]
settings: {latency_samples: 20, warmup: 2}
"""


@pytest.mark.slow
def test_train_to_quality_over_seeds_then_serve_the_trained_model(pytester):
    pytest.importorskip("torch")
    (Path(pytester.path) / "suite.yaml").write_text(TRAINING)
    result = pytester.runpytest_subprocess("--aibench", "suite.yaml", "--aibench-json", "r.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*TTQ s*TTQ cv*epochs*train samples/s*"])
    items = run_items(Path(pytester.path) / "r.json")
    ttq = items["ttq::tiny[torch-fp32-train_to_quality]"]
    train = ttq["metrics"]["train"]
    assert train["reached"] == 1.0 and train["seeds"] == 2 and train["time_to_quality_s"] > 0
    assert 1 <= train["epochs_to_quality"] <= 8 and train["time_to_quality_cv"] >= 0 and train["throughput_sps"] > 0
    runs = ttq["info"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and all(r["final_accuracy"] >= 0.85 for r in runs)
    served = items["ttq::tiny[torch-fp32-serve_trained]"]
    assert served["info"]["served"]["origin"].startswith("trained by this run")
    assert served["metrics"]["accuracy"] == ttq["metrics"]["accuracy"] and served["metrics"]["latency"]["p50_ms"] > 0
    # served alone (another xdist worker, say): it trains the same seeded model itself
    alone = pytester.runpytest_subprocess("--aibench", "suite.yaml", "-k", "serve_trained", "--aibench-json", "s.json")
    alone.assert_outcomes(passed=1)
    (again,) = run_items(Path(pytester.path) / "s.json").values()
    assert again["metrics"]["accuracy"] == served["metrics"]["accuracy"]
