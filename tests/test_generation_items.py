"""Generation items end to end: the compact decoders as pytest items with MLPerf's LLM figures, the
collaborative paradigms over a simulated link, LoadGen's token-latency mode, gates, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("torch")

SUITE = """\
suite: gen
version: "1.0"
datasets:
  problems:
    source: prompts
    split_seed: 0
    eval_fraction: 0.5
    params: {{samples: 200, seed: 1}}
{datasets}models:
  edge:
    zoo: decoder-edge
    dataset: problems
    paradigms: [{edge_paradigms}]
  cloud:
    zoo: decoder-cloud
    dataset: problems
    paradigms: [{cloud_paradigms}]
{models}frameworks: [torch]
paradigms: [generate]
quantizations: [fp32]
topologies:
  wan:
    edge: rpi4
    cloud: cloud
    uplink: {{latency_ms: 40, bandwidth_mbps: 5, jitter_ms: 5, outages: [[0.5, 1.0]]}}
params:
  llm_routing: {{cloud_model: cloud, interval_s: 0.1{router}}}
  speculative_decoding: {{cloud_model: cloud, draft_tokens: 3, interval_s: 0.1}}
  llm_cloud_only: {{interval_s: 0.1}}
{gates}settings: {{eval_samples: 24, warmup: 1, min_duration_ms: 300, min_query_count: 16}}
"""


def _run(p: pytest.Pytester, *args: str, **parts: str):
    fields = {"datasets": "", "models": "", "gates": "", "router": ", threshold: 0.9", "edge_paradigms": "generate",
              "cloud_paradigms": "generate"} | parts  # fmt: skip
    (Path(p.path) / "suite.yaml").write_text(SUITE.format(**fields))
    return p.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json", *args)


def _items(p: pytest.Pytester) -> dict[str, dict]:
    data = json.loads((Path(p.path) / "run.json").read_text())
    return {i["id"].split("::")[1]: i for i in data["items"]}


def test_generate_items_report_ttft_tpot_tokens_per_s_and_quality(pytester: pytest.Pytester) -> None:
    r = _run(
        pytester,
        "--aibench-md", "m.md", "--aibench-csv", "r.csv", "--aibench-html", "r.html",
        gates='gates:\n  generation.exact_match: ">= 0.5"\n  ttft.p99_ms: "<= 5000"\n',
    )  # fmt: skip
    r.assert_outcomes(passed=2)
    root = Path(pytester.path)
    md, csv, html = ((root / f).read_text() for f in ("m.md", "r.csv", "r.html"))
    assert "TTFT ms" in md and "TPOT ms" in md and "EM" in md  # the leaderboard's generation columns
    assert "ttft.p99_ms" in csv and "tokens_per_s.total" in csv and "generation.exact_match" in csv
    assert "TTFT ms" in html and "cloud[torch-fp32-generate-wan]" in html
    r.stdout.fnmatch_lines(["*TTFT ms*TPOT ms*tok/s*EM*ppl*", "*cloud[torch-fp32-generate-wan]*1.000*"])
    items = _items(pytester)
    edge, cloud = items["edge[torch-fp32-generate-wan]"]["metrics"], items["cloud[torch-fp32-generate-wan]"]["metrics"]
    for m in (edge, cloud):
        assert 0 < m["ttft"]["p50_ms"] <= m["ttft"]["p99_ms"] and 0 < m["tpot"]["p50_ms"] <= m["tpot"]["p99_ms"]
        assert m["tokens_per_s"]["total"] > 0 and m["prefill"]["tokens_per_s"] > 0 and m["kv_cache"]["bytes"] > 0
        assert m["generation"]["answers"] == 24 and m["generation"]["perplexity"] >= 1.0
        assert m["energy"]["j_per_token"] > 0
    assert cloud["generation"]["exact_match"] > edge["generation"]["exact_match"]  # the two really differ
    assert cloud["generation"]["perplexity"] < edge["generation"]["perplexity"]


def test_a_tight_ttft_gate_fails_naming_metric_value_and_limit(pytester: pytest.Pytester) -> None:
    r = _run(pytester, "-k", "cloud", gates='gates:\n  ttft.p99_ms: "<= 0.000001"\n')
    r.assert_outcomes(failed=1, deselected=1)
    r.stdout.fnmatch_lines(["*gate failed: ttft.p99_ms = *, required <= 1e-06*"])


def test_collaborative_paradigms_route_speculate_and_keep_the_clouds_answer(pytester: pytest.Pytester) -> None:
    r = _run(
        pytester, edge_paradigms="llm_edge_only, llm_routing, speculative_decoding", cloud_paradigms="llm_cloud_only"
    )
    r.assert_outcomes(passed=4)
    items = {k.split("-")[-2]: v["metrics"] for k, v in _items(pytester).items()}
    edge, cloud, route, spec = (
        items[k] for k in ("llm_edge_only", "llm_cloud_only", "llm_routing", "speculative_decoding")
    )
    assert edge["cloud"]["query_fraction"] == 0 and edge["bytes"]["up"] == 0
    assert cloud["cloud"]["query_fraction"] == 1 and cloud["bytes"]["up"] == 4 * cloud["cloud"]["tokens_sent"]
    assert spec["spec"]["identical_to_cloud"] == 1.0  # speculative decoding returns the cloud's greedy answer
    assert spec["generation"]["exact_match"] == cloud["generation"]["exact_match"]
    assert 0 < spec["spec"]["acceptance_rate"] <= 1 and spec["spec"]["speedup"] > 0 and spec["bytes"]["up"] > 0
    assert 0 < route["cloud"]["query_fraction"] < 1  # the confidence router sends some queries up
    assert route["quality_edge_only"] == edge["generation"]["exact_match"]
    assert route["quality_cloud_only"] == cloud["generation"]["exact_match"]
    assert edge["generation"]["exact_match"] <= route["generation"]["exact_match"]
    curve = _items(pytester)["edge[torch-fp32-llm_routing-wan]"]["info"]["routing"]["curve"]
    fractions = [c["cloud_fraction"] for c in curve]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] > 0.9


def test_a_user_router_is_a_stage_and_a_bad_answer_is_one_clear_error(pytester: pytest.Pytester) -> None:
    (Path(pytester.path) / "myrouter.py").write_text(
        "def by_length(query, threshold):\n    return query['prompt_tokens'] > threshold\n\n"
        "def broken(query, threshold):\n    return 'yes'\n"
    )
    r = _run(
        pytester,
        edge_paradigms="llm_routing",
        cloud_paradigms="generate",
        router=", router: 'myrouter:by_length', threshold: 7",
    )
    r.assert_outcomes(passed=2)
    route = _items(pytester)["edge[torch-fp32-llm_routing-wan]"]
    assert route["info"]["routing"]["router"] == "myrouter:by_length"
    assert 0 < route["metrics"]["cloud"]["query_fraction"] < 1
    r = _run(
        pytester,
        "-k",
        "routing",
        edge_paradigms="llm_routing",
        cloud_paradigms="generate",
        router=", router: 'myrouter:broken'",
    )
    r.assert_outcomes(failed=1, deselected=1)
    r.stdout.fnmatch_lines(["*stage router 'myrouter:broken' returned str 'yes'; expected True*"])


@pytest.mark.slow  # LoadGen runs / several paired session pairs
def test_loadgen_token_latency_mode_reports_ttft_tpot_and_its_verdict(pytester: pytest.Pytester) -> None:
    pytest.importorskip("mlperf_loadgen")
    models = "  cloud_lg:\n    zoo: decoder-cloud\n    dataset: problems\n    scenarios: [server, offline]\n"
    r = _run(pytester, "-k", "cloud_lg", models=models)
    r.assert_outcomes(passed=2, deselected=2)
    items = _items(pytester)
    for name, item in items.items():
        lg = item["metrics"]["loadgen"]
        summary = (Path(item["info"]["loadgen"]["logs"]) / "performance" / "mlperf_log_summary.txt").read_text()
        said = dict(re.findall(r"^(.+?)\s*:\s*([\d.e+-]+)\s*$", summary, re.M))  # LoadGen's own summary
        key = "Completed tokens per second" if "server" in name else "Tokens per second"
        assert lg["tokens_per_s"] == pytest.approx(float(said[key]), rel=1e-4) and lg["mlperf_unit"] == "tokens/s"
        assert lg["result"] == said.get("Result is", lg["result"]) and isinstance(lg["valid"], bool)
        if "server" in name:  # TTFT and TPOT are the Server scenario's constraints
            assert lg["ttft_p99_ms"] * 1e6 == pytest.approx(float(said["99.00 percentile first token latency (ns)"]))
            assert lg["tpot_p99_ms"] * 1e6 == pytest.approx(float(said["99.00 percentile time to output token (ns)"]))
            assert item["metrics"]["ttft"]["p99_ms"] == lg["ttft_p99_ms"]
            settings = item["info"]["loadgen"]["settings"]
            assert settings["ttft_latency_ns"] > 0 and settings["tpot_latency_ns"] > 0
    server = next(v for k, v in items.items() if "server" in k)
    assert server["metrics"]["generation"]["exact_match"] >= 0.85  # accuracy mode, judged by the task


def test_bad_generation_input_is_one_clear_error(pytester: pytest.Pytester) -> None:
    (Path(pytester.path) / "p.jsonl").write_text('{"prompt": "12+7=", "answer": "19"}\n{"prompt": 12, "answer": "1"}\n')
    datasets = "  mine:\n    source: prompts_jsonl\n    path: p.jsonl\n  long:\n    source: prompts\n    params: {context: 60}\n"
    models = ("  from_file:\n    zoo: decoder-cloud\n    dataset: mine\n  too_long:\n    zoo: decoder-cloud\n    dataset: long\n"
              "  classifier:\n    zoo: tinycnn-digits\n    dataset: problems\n    task: generation\n")  # fmt: skip
    r = _run(pytester, "-k", "from_file or too_long or classifier", datasets=datasets, models=models)
    out = r.stdout.str()
    assert "p.jsonl:2: key 'prompt' must be text, got int" in out
    assert "longer than the model's context of 64 positions" in out
    assert "no KV-cache interface" in out
    r.assert_outcomes(failed=2, errors=1, deselected=2)  # a bad dataset errors its items at setup


def test_the_readme_own_decoder_example_runs_as_written(pytester: pytest.Pytester) -> None:
    pytest.importorskip("onnxruntime")
    import hashlib
    import shutil

    root = Path(pytester.path)
    text = (Path(__file__).parent.parent / "README.md").read_text()
    start = text.index("```yaml\n", text.index("Your own decoder:")) + len("```yaml\n")
    shipped = Path(__file__).parent.parent / "fixtures" / "models" / "decoder-cloud" / "model.onnx"
    shutil.copy(shipped, root / "decoder.onnx")  # an ONNX decoder with its cache, as a user would export one
    sha = hashlib.sha256((root / "decoder.onnx").read_bytes()).hexdigest()
    (root / "my-decoder.yaml").write_text(
        text[start : text.index("```", start)].replace("<sha256 of decoder.onnx>", sha)
    )
    r = pytester.runpytest("--aibench", "my-decoder.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=1)
    (item,) = json.loads((root / "run.json").read_text())["items"]
    assert item["metrics"]["generation"]["exact_match"] > 0.8 and item["metrics"]["tpot"]["p50_ms"] > 0


@pytest.mark.slow  # LoadGen runs / several paired session pairs
def test_a_paired_gate_compares_tpot_step_for_step_and_the_answers_exactly(pytester: pytest.Pytester) -> None:
    _run(pytester, "-k", "cloud", "--aibench-save", "base").assert_outcomes(passed=1, deselected=1)
    r = _run(pytester, "-k", "cloud", "--aibench-against", "base", "--aibench-fail-on", "latency.p50_ms:+50%")
    r.assert_outcomes(passed=1, deselected=1)
    (item,) = _items(pytester).values()
    against = item["info"]["against"]
    assert against["status"] == "compared" and against["reference_environment"]["timed"] == "one decode step (TPOT)"
    verdicts = {v["metric"]: v for v in against["verdicts"]}
    assert verdicts["latency.p50_ms"]["outcome"] in ("SAME", "FASTER", "SLOWER", "INCONCLUSIVE")
    assert against["reference_accuracy"] == item["metrics"]["generation"]["exact_match"]  # the same answers
