"""Baselines, regression gates and every output, each checked against a real consumer."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import manifest
from pytest_aibench.cli import main as aibench
from pytest_aibench.core.result import Result
from pytest_aibench.judge.compare import Rule, RuleError, judge, mann_whitney_greater, parse_rules
from pytest_aibench.report.html import render

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "pytest_aibench" / "report" / "run.schema.json").read_text())
ROUNDS = "settings: {warmup: 5, latency_samples: 250, latency_rounds: 5}\n"


def suite(p, linear_model, models=("linear",), extra=ROUNDS):
    text = manifest(
        linear_model[1], models="".join(f"  {m}:\n    file: model.npz\n    sha256: {linear_model[1]}\n" for m in models)
    )
    p.path.joinpath("suite.yaml").write_text(text.replace("settings: {warmup: 2, latency_samples: 20}\n", extra))


@pytest.mark.slow
def test_aa_compare_passes_and_a_real_slowdown_fails_with_evidence(demo, linear_model, monkeypatch):
    suite(demo, linear_model)
    demo.runpytest("--aibench", "suite.yaml", "--aibench-save", "base").assert_outcomes(passed=1)
    assert (Path(demo.path) / ".aibench" / "saved" / "base.json").is_file()
    same = demo.runpytest(
        "--aibench", "suite.yaml", "--aibench-compare", "base", "--aibench-fail-on", "latency.p50:+50%,accuracy:-0.005"
    )
    same.assert_outcomes(passed=1)
    same.stdout.fnmatch_lines(
        ["compared with *base.json: 1 matched, 0 regressed, 0 new, 0 missing from this run (unpaired, the weaker test*"]
    )
    monkeypatch.setenv("AIBENCH_TEST_SLOW", "200")  # +200 µs on a ~5 µs call
    from pytest_aibench.measure import host  # an xdist neighbour must not make this slowdown inconclusive

    monkeypatch.setattr(host.HostLoad, "result", lambda self: {"other_cpus": 0.0, "steal_cpus": 0.0, "cpus": 2})
    slow = demo.runpytest(
        "--aibench", "suite.yaml", "--aibench-compare", "base", "--aibench-fail-on", "latency.p50:+50%"
    )
    slow.assert_outcomes(failed=1)
    slow.stdout.fnmatch_lines(
        [
            "*regression against base.json: latency.p50_ms: baseline *, current *, change +*% "
            "(limit +50%); 4 rounds vs 4 baseline rounds (fresh runner each; each side's worst round "
            "set aside)*fully separated*"
        ]
    )


@pytest.mark.slow
def test_rounds_spread_over_the_span_each_behind_a_canary_probe(demo, linear_model):
    spread = "settings: {warmup: 5, latency_samples: 200, latency_rounds: 4, latency_span_s: 4}\n"
    suite(demo, linear_model, extra=spread)
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "run.json").assert_outcomes(passed=1)
    (item,) = json.loads((Path(demo.path) / "run.json").read_text())["items"]
    load = item["info"]["host_load"]
    assert item["info"]["latency_rounds"] == 4 and len(item["samples"]["round_medians_ns"]) == 4
    assert len(load["canary_us"]) == 5  # before each round and after the last
    # three of the four shares of the span idled before the last round (back to back: about 1 s here)
    assert load["seconds"] >= 3.0
    assert item["settings"]["latency_span_s"] == 4


@pytest.mark.slow
def test_a_slowdown_while_other_processes_took_the_cores_is_inconclusive(demo, linear_model, monkeypatch):
    from pytest_aibench.measure import host

    def host_record(other):  # what the probe read on the host (faked: the CI machine's load is not ours to set)
        monkeypatch.setattr(host.HostLoad, "result", lambda self: {"other_cpus": other, "steal_cpus": 0.0, "cpus": 2})

    suite(demo, linear_model)
    host_record(0.0)
    demo.runpytest("--aibench", "suite.yaml", "--aibench-save", "base").assert_outcomes(passed=1)
    monkeypatch.setenv("AIBENCH_TEST_SLOW", "200")
    host_record(1.6)
    busy = demo.runpytest(
        "--aibench",
        "suite.yaml",
        "--aibench-compare",
        "base",
        "--aibench-fail-on",
        "latency.p50:+50%",
        "--aibench-json",
        "busy.json",
        "--aibench-md",
        "busy.md",
        "--aibench-html",
        "busy.html",
    )
    busy.assert_outcomes(passed=1)
    md = (Path(demo.path) / "busy.md").read_text()
    assert "1 matched, 0 regressed" in md and "| item | inconclusive (rerun on a quiet host) |" in md
    assert ">inconclusive — " in (Path(demo.path) / "busy.html").read_text()
    busy.stdout.fnmatch_lines(
        [
            "compared with *base.json: 1 matched, 0 regressed, 0 new, 0 missing from this run (unpaired*",
            "  INCONCLUSIVE linear*latency.p50_ms*fully separated*inconclusive, not a regression: other processes used "
            "1.6 of 2 CPUs while this run was timed (baseline 0.0), leaving under the 1 its runtime uses; rerun on a quiet host",
        ]
    )
    item = json.loads((Path(demo.path) / "busy.json").read_text())["items"][0]
    assert item["flags"] == ["host busy: other processes used 1.6 of 2 CPUs while timing"]
    assert [v["inconclusive"] for v in item["info"]["baseline"]["verdicts"]] == [True]
    host_record(0.2)  # the same slowdown on a quiet host is a regression
    demo.runpytest(
        "--aibench", "suite.yaml", "--aibench-compare", "base", "--aibench-fail-on", "latency.p50:+50%"
    ).assert_outcomes(failed=1)


def test_contention_needs_more_load_than_the_baseline_and_too_few_free_cores():
    from pytest_aibench.measure.host import contention

    quiet, busy = {"other_cpus": 0.1, "cpus": 2}, {"other_cpus": 1.5, "cpus": 2}
    assert "1.5 of 2 CPUs" in contention(quiet, busy, 1)
    assert contention(busy, busy, 1) is None  # the baseline was as busy: comparable
    assert contention(quiet, {"other_cpus": 1.5, "cpus": 16}, 4) is None  # cores to spare
    assert contention(quiet, {"other_cpus": 0.4, "cpus": 2}, 2) is None  # under half a core more
    assert contention(None, busy, None) is not None and contention(quiet, {}, 1) is None


def test_a_slower_canary_explains_a_slowdown_a_steady_one_does_not():
    from pytest_aibench.measure.host import explains, machine_slower

    base = {"other_cpus": 0.0, "cpus": 2, "canary_us": [380.0, 376.0, 390.0, 377.0, 600.0]}  # one blip
    slow = {"other_cpus": 0.0, "cpus": 2, "canary_us": [380.0, 577.0, 512.0, 381.0, 379.0]}  # a slow phase
    steady = {"other_cpus": 0.0, "cpus": 2, "canary_us": [381.0, 392.0, 375.0, 383.0, 610.0]}
    assert (
        "ran 10% or more slower than the baseline's median (380 µs) in 2 of 5 probes (baseline: 1 of 5)"
        in machine_slower(base, slow)
    )
    assert machine_slower(base, steady) is None  # one blip, as the baseline had: no excuse
    assert machine_slower(slow, base) is None and machine_slower({}, slow) is None
    assert explains(base, slow, 2) == machine_slower(base, slow) and explains(base, steady, 2) is None
    # a single round has two probes: a slow phase from its middle on shows in the second alone
    assert "in 1 of 2 probes (baseline: 0 of 2)" in machine_slower(
        {"canary_us": [391.0, 392.0]}, {"canary_us": [391.0, 646.0]}
    )
    assert machine_slower({"canary_us": [391.0, 640.0]}, {"canary_us": [391.0, 646.0]}) is None


def test_host_probe_sees_a_busy_neighbour():
    from pytest_aibench.measure.host import HostLoad

    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        __import__("time").sleep(0.3)
        with HostLoad() as probe:
            __import__("time").sleep(0.5)  # this process idles; the neighbour spins
    finally:
        spin.kill()
        spin.wait()
    load = probe.result()
    assert load["other_cpus"] >= 0.5 and load["cpus"] >= 1 and load["seconds"] >= 0.5


@pytest.mark.slow
def test_accuracy_compares_exactly_and_manifest_rules_apply(demo, linear_model, tmp_path):
    suite(demo, linear_model, extra=ROUNDS + 'regressions: {accuracy: "-0.001"}\n')
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "base.json").assert_outcomes(passed=1)
    import numpy as np

    with np.load(Path(demo.path) / "model.npz") as z:  # a worse model under the same name
        w, b = z["w"].copy(), z["b"]
    w[:, 3] = 0
    np.savez(Path(demo.path) / "model.npz", w=w, b=b)
    sha = __import__("hashlib").sha256((Path(demo.path) / "model.npz").read_bytes()).hexdigest()
    text = (Path(demo.path) / "suite.yaml").read_text().replace(linear_model[1], sha)
    (Path(demo.path) / "suite.yaml").write_text(text)
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-compare", "base.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*accuracy: baseline 0.9*, current 0.8*, change -0.1*(limit -0.001); exact comparison (same seed and data)*"]
    )


@pytest.mark.slow
def test_missing_new_and_different_items_are_reported_not_crashes(demo, linear_model):
    suite(demo, linear_model, models=("a", "b"))
    demo.runpytest("--aibench", "suite.yaml", "--aibench-save", "two").assert_outcomes(passed=2)
    suite(demo, linear_model, models=("b", "c"))
    result = demo.runpytest(
        "--aibench",
        "suite.yaml",
        "--aibench-compare",
        "two",
        "--aibench-fail-on",
        "accuracy:-0.01",
        "--aibench-md",
        "pr.md",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["compared with *two.json: 1 matched, 0 regressed, 1 new, 1 missing from this run (unpaired*"]
    )
    md = (Path(demo.path) / "pr.md").read_text()
    assert "1 matched, 0 regressed, 1 new, 1 missing" in md and "| `b[numpy-fp32-single]` |" in md


@pytest.mark.parametrize(
    "args, message",
    [
        (["--aibench-fail-on", "latency.p99:+10%"], "--aibench-fail-on needs something to compare with"),
        (["--aibench-compare", "nope"], "no saved baseline of that name"),
        (["--aibench-compare", "suite.yaml"], "cannot read"),
    ],
)
def test_bad_baseline_options_are_usage_errors(demo, linear_model, args, message):
    suite(demo, linear_model)
    result = demo.runpytest("--aibench", "suite.yaml", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_rule_syntax():
    rules = parse_rules(
        "latency.p99:+10%, accuracy:-0.005;throughput.ips:-5%",
        {"latency.p99_ms", "latency.p99_ci_low_ms", "accuracy", "throughput.ips"},
    )
    assert [(r.metric, r.limit, r.relative) for r in rules] == [
        ("latency.p99_ms", 0.10, True),
        ("accuracy", -0.005, False),
        ("throughput.ips", -0.05, True),
    ]
    with pytest.raises(RuleError, match="expected METRIC:"):
        parse_rules("latency.p99>10%")
    with pytest.raises(RuleError, match="did you mean 'accuracy'"):
        parse_rules("acuracy:-0.01", {"accuracy"})


def test_latency_needs_tolerance_and_significance():
    base = Result("s::m[x]", "s", "m", {}, metrics={"latency.p50_ms": 1.0}, samples={"latency_ns": [1_000_000] * 100})
    noisy = Result(
        "s::m[x]",
        "s",
        "m",
        {},
        metrics={"latency.p50_ms": 1.2},
        samples={"latency_ns": [1_000_000] * 60 + [2_000_000] * 40},
    )
    v = judge(Rule("latency.p50_ms", 0.10, True, "latency.p50:+10%"), base, noisy)
    assert v.change == pytest.approx(0.2) and not v.regressed  # medians (1 ms both) do not separate
    assert "beyond the tolerance but not significant" in v.evidence
    assert mann_whitney_greater([1.0] * 50, [1.0] * 50) == 1.0  # all ties: no evidence either way
    assert mann_whitney_greater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) < 0.01


@pytest.mark.slow
def test_outputs_validate_and_real_consumers_read_them(demo, linear_model):
    suite(demo, linear_model)
    result = demo.runpytest(
        "--aibench",
        "suite.yaml",
        "--aibench-json",
        "run.json",
        "--aibench-benchmark-json",
        "pb.json",
        "--aibench-csv",
        "run.csv",
        "--aibench-md",
        "run.md",
        "--aibench-html",
        "run.html",
    )
    result.assert_outcomes(passed=1)
    doc = json.loads((Path(demo.path) / "run.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    rows = list(csv.DictReader(io.StringIO((Path(demo.path) / "run.csv").read_text())))
    assert rows[0]["id"] == "demo::linear[numpy-fp32-single]" and float(rows[0]["accuracy"]) > 0.9
    assert "| `linear[numpy-fp32-single]` |" in (Path(demo.path) / "run.md").read_text()
    pbc = Path(sys.executable).parent / "pytest-benchmark"
    out = subprocess.run([str(pbc), "compare", str(Path(demo.path) / "pb.json")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "linear[numpy-fp32-single]" in out.stdout and "Median" in out.stdout
    html = (Path(demo.path) / "run.html").read_text()
    assert (
        "<svg" in html
        and "http://" not in html
        and "https://" not in html.replace("https://pytest-aibench.invalid", "")
    )


def hostile_result(**over) -> Result:
    base = dict(
        id="evil::<script>alert(1)</script>[torch-fp32-single]",
        suite="evil<b>",
        model="<script>alert(1)</script>",
        axes={"model": "<script>", "framework": "<img src=x onerror=alert(2)>", "quantization": "fp32"},
        outcome="failed",
        reason="<script>alert(3)</script>",
        metrics={"accuracy": 0.9, "latency.p50_ms": 1.0, "vips": 10.0},
        samples={"latency_ns": [10**6] * 10},
    )
    base.update(over)
    return Result(**base)


def test_html_escapes_every_string():
    html = render(
        {
            "run_id": "<script>x</script>",
            "machine": {"cpu": {"model": "<i>cpu</i>"}},
            "manifests": [{"path": "<a>", "suite": "s", "version": "1", "sha256": "0" * 64}],
        },
        [hostile_result()],
    )
    assert "<script>alert" not in html and "<img src=x" not in html and "<i>cpu</i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # only the report's own sorting script


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_html_renders_in_headless_chromium(tmp_path):
    results = [
        hostile_result(),
        Result(
            "s::b[onnxruntime-int8-single]",
            "evil<b>",
            "b",
            {"model": "b", "framework": "onnxruntime", "quantization": "int8"},
            metrics={"accuracy": 0.95, "latency.p50_ms": 0.2, "vips": 4000.0},
            samples={"latency_ns": list(range(150_000, 250_000, 1000))},
        ),
    ]
    page = tmp_path / "r.html"
    page.write_text(render({"run_id": "r"}, results))
    shot = tmp_path / "shot.png"
    cmd = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1400",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000
    raw = shot.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    import struct
    import zlib

    width, height = struct.unpack(">II", raw[16:24])
    idat = b"".join(
        raw[i + 8 : i + 8 + struct.unpack(">I", raw[i : i + 4])[0]]
        for i in _chunks(raw)
        if raw[i + 4 : i + 8] == b"IDAT"
    )
    pixels = zlib.decompress(idat)
    assert width == 1200 and len(set(pixels[: width * 4 * 600])) > 20  # not a blank page: text and plot drawn


def _chunks(raw: bytes):
    i = 8
    while i < len(raw):
        yield i
        i += 12 + int.from_bytes(raw[i : i + 4], "big")


@pytest.mark.slow
def test_aibench_command(demo, linear_model, capsys):
    suite(demo, linear_model, models=("a",))
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "one.json").assert_outcomes(passed=1)
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "two.json").assert_outcomes(passed=1)
    d = Path(demo.path)
    assert aibench(["show", str(d / "one.json")]) == 0
    assert "aibench leaderboard: demo 1.0" in capsys.readouterr().out
    assert (
        aibench(
            [
                "report",
                str(d / "one.json"),
                "--html",
                str(d / "o.html"),
                "--md",
                str(d / "o.md"),
                "--csv",
                str(d / "o.csv"),
            ]
        )
        == 0
    )
    assert (d / "o.html").read_text().startswith("<!doctype html>")
    assert aibench(["compare", str(d / "one.json"), str(d / "two.json"), "--fail-on", "accuracy:-0.001"]) == 0
    assert "1 matched, 0 regressed" in capsys.readouterr().out
    assert aibench(["merge", str(d / "one.json"), str(d / "two.json"), "-o", str(d / "m.json")]) == 0
    merged = json.loads((d / "m.json").read_text())
    jsonschema.validate(merged, SCHEMA)
    assert len(merged["items"]) == 2 and len(merged["merged_from"]) == 2
    with pytest.raises(SystemExit, match="no such run JSON"):
        aibench(["show", str(d / "nothing.json")])


@pytest.mark.slow
def test_progress_shows_at_verbose_and_not_when_quiet(demo, linear_model):
    pytest.importorskip("mlperf_loadgen")
    suite(demo, linear_model, extra="scenarios: [offline]\nsettings: {min_duration_ms: 100, min_query_count: 10}\n")
    loud = demo.runpytest("--aibench", "suite.yaml", "-v")
    loud.stdout.fnmatch_lines(["*[[]demo::linear*offline*[]] LoadGen offline: accuracy pass over * samples"])
    quiet = demo.runpytest("--aibench", "suite.yaml", "-q")
    quiet.stdout.no_fnmatch_line("*LoadGen offline: accuracy pass*")


SELFTEST = """
<script>
window.aibenchErrors = [];
window.addEventListener('error', function(e){ window.aibenchErrors.push(String(e.message)); });
window.addEventListener('load', function(){
  var out = [];
  document.querySelectorAll('table.sortable').forEach(function(table, t){
    table.querySelectorAll('thead th').forEach(function(th){
      [1, 2].forEach(function(click){
        th.click();
        var col = th.cellIndex;
        var keys = Array.from(table.tBodies[0].rows).map(function(r){
          var c = r.cells[col]; return c ? (c.dataset.v !== undefined ? c.dataset.v : c.textContent).trim() : null; });
        out.push({table: t, col: col, head: th.textContent, click: click, keys: keys});
      });
    });
  });
  var pre = document.createElement('pre'); pre.id = 'selftest';
  pre.textContent = JSON.stringify({clicks: out, errors: window.aibenchErrors});
  document.body.appendChild(pre);
});
</script>
"""


def _sorted_as_the_page_sorts(keys: list[str], ascending: bool) -> bool:
    import functools

    filled = [k for k in keys if k != ""]
    if keys != filled + [""] * (len(keys) - len(filled)):
        return False  # blanks last, either way

    def cmp(x: str, y: str) -> int:
        try:
            return (float(x) > float(y)) - (float(x) < float(y))
        except ValueError:
            return (x > y) - (x < y)

    ordered = sorted(filled, key=functools.cmp_to_key(cmp), reverse=not ascending)
    return [cmp(a, b) for a, b in zip(filled, filled[1:], strict=False)] == [
        cmp(a, b) for a, b in zip(ordered, ordered[1:], strict=False)
    ]


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_every_header_of_every_table_sorts_its_own_table_in_headless_chromium(tmp_path):
    import html as htmlmod
    import re

    def item(suite, model, fw, acc, p50, *, base=None, against=None):
        info = {}
        if base is not None:
            info["baseline"] = {
                "verdicts": [
                    {
                        "rule": "latency.p50:+10%",
                        "baseline": base,
                        "current": p50,
                        "change": p50 / base - 1,
                        "regressed": p50 / base > 1.1,
                        "evidence": "rounds",
                    }
                ]
            }
        if against is not None:
            info["against"] = {
                "ref": "git:HEAD",
                "status": "compared",
                "verdicts": [
                    {
                        "rule": "latency.p50:+5%",
                        "outcome": "SAME" if against < 1.05 else "REGRESSED",
                        "ratio": against,
                        "ci_low": against - 0.01,
                        "ci_high": against + 0.01,
                        "reference_ms": p50 / against,
                        "candidate_ms": p50,
                        "pairs": 1000,
                        "seconds": 1.2,
                    }
                ],
            }
        return Result(
            f"{suite}::{model}[{fw}-fp32-single]",
            suite,
            model,
            {"model": model, "framework": fw, "quantization": "fp32"},
            metrics={"accuracy": acc, "latency.p50_ms": p50, "latency.p99_ms": p50 * 3, "vips": acc / p50},
            samples={"latency_ns": [int(p50 * 1e6)] * 10},
            info=info,
        )

    results = [
        item("one", "a", "torch", 0.91, 0.30, base=0.25, against=1.2),
        item("one", "b", "onnxruntime", 0.97, 0.05, base=0.06, against=0.99),
        item("one", "c", "torch", 0.93, 0.12, base=0.12, against=1.01),
        item("two", "x", "onnxruntime", 0.80, 2.0),
        item("two", "y", "torch", 0.85, 1.5),
        item("two", "z", "litert", 0.70, 0.9),
    ]
    page = tmp_path / "r.html"
    page.write_text(render({"run_id": "r"}, results).replace("</body>", SELFTEST + "</body>"))
    cmd = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    assert found, dom[-500:]
    report = json.loads(htmlmod.unescape(found.group(1)))
    assert report["errors"] == []
    tables = {c["table"] for c in report["clicks"]}
    assert len(tables) >= 4  # two leaderboards, the baseline comparison, the paired comparison
    for c in report["clicks"]:
        assert None not in c["keys"], c
        assert _sorted_as_the_page_sorts(c["keys"], ascending=c["click"] == 1), c
