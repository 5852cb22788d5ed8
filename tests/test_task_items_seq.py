"""Part 2's task items end to end: a recommender and a phenotyping monitor run as pytest items, judged
by their fields' metrics, gated, ranked in their own leaderboards, and refused with one clear message
when a model's outputs do not fit the task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")

SUITE = """\
suite: seq
version: "1.0"
datasets:
  interactions:
    source: interactions
    split_seed: 0
    params: {{samples: 3000, users: 300, items: 400, per_user: 10, negatives: 99, seed: 0}}
  phenotypes:
    source: icu
    split_seed: 0
    params: {{outcome: phenotyping, samples: 2000, steps: 48, positive_fraction: 0.25, seed: 0}}
models:
  ncf:
    zoo: ncf-interactions
    dataset: interactions
{extra}  pheno:
    zoo: lstm-phenotyping
    dataset: phenotypes
    gates: {{multilabel.macro_auroc: ">= 0.75"}}
frameworks: [onnxruntime]
quantizations: [fp32, int8_dynamic]
paradigms: [single]
gates:
  accuracy: ">= 0.9"   # suite-wide top-1: neither model is judged by it
settings: {{latency_samples: 5, warmup: 1}}
"""


def _run(p: pytest.Pytester, extra: str = '    gates: {recommendation.hr_10: ">= 0.4"}\n', *args: str):
    (Path(p.path) / "suite.yaml").write_text(SUITE.format(extra=extra))
    return p.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json", *args)


def test_recommender_and_phenotyping_items_are_judged_by_their_fields_metrics(pytester: pytest.Pytester) -> None:
    r = _run(pytester)
    r.assert_outcomes(passed=4)
    r.stdout.fnmatch_lines(["*recommendation: ranked by recommendation.hr_10*", "*multilabel: ranked by*"])
    r.stdout.fnmatch_lines(["*HR@10*NDCG@10*"])
    items = {i["id"].split("::")[1]: i for i in json.loads((Path(pytester.path) / "run.json").read_text())["items"]}
    ncf = items["ncf[onnxruntime-fp32-single]"]["metrics"]
    rec = ncf["recommendation"]
    assert rec["lists"] == 750 and 0.4 <= rec["hr_10"] <= 1 and rec["ndcg_10"] < rec["hr_10"] and rec["auc"] > 0.7
    assert ncf["quality"]["fp32"] == pytest.approx(rec["hr_10"], abs=1e-6)  # the card's split, exactly
    pheno = items["pheno[onnxruntime-int8_dynamic-single]"]["metrics"]["multilabel"]
    assert pheno["macro_auroc"] >= 0.75 and set(pheno["auroc"]) >= {"sepsis", "shock", "arrhythmia"}
    for item in items.values():
        assert "accuracy" not in item["metrics"]
        assert {g["metric"] for g in item["gates"]} <= {"recommendation.hr_10", "multilabel.macro_auroc"}


def test_a_failed_recommendation_gate_names_metric_value_and_limit(pytester: pytest.Pytester) -> None:
    r = _run(pytester, '    gates: {recommendation.ndcg_10: ">= 0.99"}\n', "-k", "ncf and fp32")
    r.assert_outcomes(failed=1, deselected=3)
    r.stdout.fnmatch_lines(["*gate failed: recommendation.ndcg_10 = 0.*, required >= 0.99*"])


def test_a_model_whose_outputs_do_not_fit_the_task_is_one_clear_error(pytester: pytest.Pytester) -> None:
    r = _run(pytester, "    task: action\n", "-k", "ncf and fp32")
    r.assert_outcomes(failed=1, deselected=3)
    r.stdout.fnmatch_lines(["*dataset 'interactions' names no classes for task 'action'*set the model's task:*"])


LOADGEN = """\
suite: lg
version: "1.0"
datasets:
  interactions:
    source: interactions
    split_seed: 0
    params: {samples: 3000, users: 300, items: 400, per_user: 10, negatives: 99, seed: 0}
models:
  ncf: {zoo: ncf-interactions, dataset: interactions}
frameworks: [onnxruntime]
quantizations: [fp32]
scenarios: [single_stream, offline]
metrics: [latency, throughput, loadgen]
settings: {eval_samples: 120, warmup: 2, min_duration_ms: 200, min_query_count: 20, require_valid: false}
"""


def test_loadgen_scenarios_score_the_task_from_loadgens_own_accuracy_log(pytester: pytest.Pytester) -> None:
    pytest.importorskip("mlperf_loadgen")
    (Path(pytester.path) / "suite.yaml").write_text(LOADGEN)
    plain = LOADGEN.replace("scenarios: [single_stream, offline]\n", "paradigms: [single]\n")
    (Path(pytester.path) / "plain.yaml").write_text(plain.replace("suite: lg", "suite: plain"))
    r = pytester.runpytest(
        "--aibench", "suite.yaml", "plain.yaml", "-p", "no:cacheprovider", "--aibench-json", "r.json"
    )
    r.assert_outcomes(passed=3)
    items = {i["id"]: i["metrics"] for i in json.loads((Path(pytester.path) / "r.json").read_text())["items"]}
    plain_hr = items["plain::ncf[onnxruntime-fp32-single]"]["recommendation"]
    for sc in ("single_stream", "offline"):
        m = items[f"lg::ncf[onnxruntime-fp32-single-{sc}]"]
        assert m["loadgen"]["result"] in ("VALID", "INVALID") and "accuracy" not in m["loadgen"]
        # the outputs LoadGen logged decode to exactly what the built-in loop scored on the same samples
        assert m["recommendation"] == plain_hr and plain_hr["lists"] == 120


TEXT = """\
suite: text
version: "1.0"
datasets:
  stories: {source: qa, split_seed: 0, params: {samples: 4000, seed: 0}}
  utterances: {source: speech, split_seed: 0, params: {samples: 2000, speakers: 60, seconds: 3.0, seed: 0}}
models:
  qa: {zoo: encoder-qa, dataset: stories, gates: {qa.f1: ">= 0.65"}}
  asr: {zoo: ctc-speech, dataset: utterances, gates: {speech.wer: "<= 0.5"}}
frameworks: [onnxruntime]
quantizations: [fp32]
paradigms: [single]
settings: {eval_samples: 120, latency_samples: 5, warmup: 1}
"""


def _text(p: pytest.Pytester, *args: str):
    (Path(p.path) / "suite.yaml").write_text(TEXT)
    return p.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json", *args)


@pytest.mark.slow
def test_qa_and_speech_items_pair_against_themselves_export_and_rerun_from_a_bundle(
    pytester: pytest.Pytester, capsys
) -> None:
    """What works for top-1 works for F1 and WER: a paired gate judged on the task's headline (WER rising
    is the regression), the CSV/Markdown exports carrying the fields' metrics, and a bundle whose rerun
    reproduces them exactly."""
    from pytest_aibench.cli import main as aibench

    _text(pytester, "--aibench-save", "base").assert_outcomes(passed=2)
    r = _text(
        pytester,
        "--aibench-against",
        "base",
        "--aibench-fail-on",
        "speech.wer:+0",
        "--aibench-fail-on",  # repeated: both uses' rules apply, each to the item whose task scores it
        "qa.f1:-0,qa.exact_match:-0",
        "--aibench-md",
        "m.md",
        "--aibench-csv",
        "r.csv",
    )
    r.assert_outcomes(passed=2)
    root = Path(pytester.path)
    items = {i["id"].split("::")[1].split("[")[0]: i for i in json.loads((root / "run.json").read_text())["items"]}
    (verdict,) = [v for v in items["asr"]["info"]["against"]["verdicts"] if v["metric"] == "speech.wer"]
    assert verdict["outcome"] == "SAME", verdict  # the same split and model: identical transcripts
    qa = {v["metric"]: v for v in items["qa"]["info"]["against"]["verdicts"]}
    assert set(qa) == {"qa.f1", "qa.exact_match"}, qa  # not only the headline: every figure the task scores
    for name, v in qa.items():
        assert (
            v["outcome"] == "SAME"
            and v["reference_value"] == v["candidate_value"] == items["qa"]["metrics"]["qa"][name.split(".")[1]]
        ), v
    assert "1 not compared" not in r.stdout.str() and "0 REGRESSED, 2 SAME" in r.stdout.str()
    assert 0.65 <= items["qa"]["metrics"]["qa"]["f1"] <= 1 and items["asr"]["metrics"]["speech"]["wer"] <= 0.5
    md, csv = (root / "m.md").read_text(), (root / "r.csv").read_text()
    assert "F1" in md and "WER" in md and "qa.f1" in csv and "speech.wer" in csv
    assert aibench(["bundle", str(root / "run.json"), "-o", str(root / "b.tar.gz")]) == 0
    capsys.readouterr()
    assert aibench(["rerun", str(root / "b.tar.gz"), "--tolerance", "10"]) == 0  # latency: any; quality: exact
    out = capsys.readouterr().out
    assert "2 items rerun; accuracy (or each task's headline) must match exactly" in out and "DIFFERS" not in out
