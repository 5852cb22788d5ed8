"""Accuracy that holds on every x86 CPU: the ISA flags every run records, comparisons that name an
ISA difference, and the shipped zoo giving its cards' predictions here and on an emulated AVX2 CPU."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from conftest import manifest
from pytest_aibench.builder.recipes import RECIPES
from pytest_aibench.isa import KERNEL_FLAGS, describe, detect, difference, isa_flags, level
from pytest_aibench.machine import cpu_summary

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "pytest_aibench" / "report" / "run.schema.json").read_text())
HERE = describe(isa_flags())
#: a pre-AVX2 instruction set no CI machine of ours has: "the baseline ran elsewhere", on any CPU
OLD_ISA = ["sse4_1", "sse4_2", "avx"]


# -- detection ---------------------------------------------------------------------------------------
ZEN4 = {
    "SSE41": True,
    "SSE42": True,
    "AVX": True,
    "FMA3": True,
    "F16C": True,
    "AVX2": True,
    "AVX512F": True,
    "AVX512BW": True,
    "AVX512VL": True,
    "AVX512VNNI": True,
    "AVX512BF16": True,
    "AVX512FP16": False,
}
ZEN1 = {**{k: False for k in ZEN4}, "SSE41": True, "SSE42": True, "AVX": True, "FMA3": True, "F16C": True, "AVX2": True}


def test_flags_come_from_cpuid_completed_by_cpuinfo_only_where_they_agree():
    cpuinfo = {
        "sse4_1",
        "sse4_2",
        "avx",
        "fma",
        "f16c",
        "avx2",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx_vnni",
        "amx_tile",
        "sha_ni",
    }
    assert detect(ZEN4, cpuinfo) == [
        "sse4_1",
        "sse4_2",
        "avx",
        "fma",
        "f16c",
        "avx2",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx_vnni",
        "avx512_bf16",
        "amx_tile",
    ]
    # under an emulator /proc/cpuinfo still describes the host: CPUID wins, cpuinfo-only flags are dropped
    assert detect(ZEN1, cpuinfo) == ["sse4_1", "sse4_2", "avx", "fma", "f16c", "avx2"]
    assert detect(None, {"avx2", "fma", "sha_ni"}) == ["fma", "avx2"]  # no numpy dispatcher: cpuinfo alone
    assert detect(None, None) == []


def test_levels_and_descriptions_say_what_picks_int8_kernels():
    assert level(detect(ZEN4, None)) == "avx512_vnni"
    assert level(detect(ZEN1, None)) == "avx2"
    assert level(["avx2", "avx_vnni"]) == "avx_vnni" and level(["avx512f", "avx512bw"]) == "avx512"
    assert level(["sse4_1"]) == "sse4" and level([]) == "baseline"
    assert describe(detect(ZEN1, None)) == "avx2 (avx, fma, f16c, avx2; no avx512f, no avx512_vnni, no avx_vnni)"
    assert describe([]) == "baseline (no AVX; no avx512f, no avx512_vnni, no avx_vnni)"
    why = difference(detect(ZEN4, None), detect(ZEN1, None))
    assert why is not None and why.startswith("ISA differs: baseline avx512_vnni, now avx2")
    assert "baseline had avx512f, avx512bw, avx512vl, avx512_vnni, avx512_bf16" in why
    assert difference(["avx2"], ["avx2"]) is None and difference(None, ["avx2"]) is None


def test_this_process_reports_real_flags():
    flags = list(isa_flags())
    assert set(flags) <= set(KERNEL_FLAGS)
    import platform

    if platform.machine() in ("x86_64", "AMD64"):
        assert "sse4_2" in flags  # every x86-64 CPU this project runs on
    assert cpu_summary()["isa"] == flags and cpu_summary()["isa_level"] == level(flags)


# -- runs record the ISA; comparisons name a difference ---------------------------------------------
def _run(demo, linear_model, name="r.json", *args):
    demo.path.joinpath("suite.yaml").write_text(manifest(linear_model[1]))
    result = demo.runpytest("--aibench", "suite.yaml", "--aibench-json", name, *args)
    return result, json.loads((Path(demo.path) / name).read_text()) if (Path(demo.path) / name).is_file() else None


def _elsewhere(doc: dict, accuracy_change: float = 0.0) -> dict:
    """The run as if measured on a pre-AVX2 CPU, with a different accuracy."""
    doc["machine"]["cpu"]["isa"] = OLD_ISA
    doc["machine"]["cpu"]["isa_level"] = level(OLD_ISA)
    for item in doc["items"]:
        item["machine"] = {**item["machine"], "isa": OLD_ISA, "isa_level": level(OLD_ISA)}
        item["metrics"]["accuracy"] += accuracy_change
    return doc


def test_run_json_and_every_result_carry_the_isa_flags(demo, linear_model):
    result, doc = _run(demo, linear_model)
    result.assert_outcomes(passed=1)
    jsonschema.validate(doc, SCHEMA)
    assert doc["machine"]["cpu"]["isa"] == list(isa_flags()) and doc["machine"]["cpu"]["isa_level"] == level(
        isa_flags()
    )
    assert [i["machine"]["isa"] for i in doc["items"]] == [list(isa_flags())]
    assert doc["items"][0]["machine"]["cpu"] == doc["machine"]["cpu"]["model"]


@pytest.mark.slow
def test_compare_names_the_isa_difference_when_accuracy_differs(demo, linear_model):
    _, doc = _run(demo, linear_model, "base.json")
    Path(demo.path, "base.json").write_text(json.dumps(_elsewhere(doc, +0.01)))
    result = demo.runpytest(
        "--aibench", "suite.yaml", "--aibench-compare", "base.json", "--aibench-fail-on", "accuracy:-0.001"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*accuracy: baseline *, change -0.01* exact comparison (same seed and data); "
            f"ISA differs: baseline sse4, now {level(isa_flags())} (now has *fma*avx2*): "
            "float kernels are picked by instruction set*"
        ]
    )
    result.stdout.fnmatch_lines(["*machine differs: ISA: baseline sse4 (avx; no avx512f*now*"])


@pytest.mark.slow
def test_aibench_compare_names_the_isa_difference(demo, linear_model, capsys):
    from pytest_aibench.cli import main as aibench

    _, doc = _run(demo, linear_model, "now.json")
    Path(demo.path, "old.json").write_text(json.dumps(_elsewhere(json.loads(json.dumps(doc)), +0.01)))
    assert (
        aibench(
            [
                "compare",
                str(Path(demo.path, "old.json")),
                str(Path(demo.path, "now.json")),
                "--fail-on",
                "accuracy:-0.001",
            ]
        )
        == 1
    )
    out = capsys.readouterr().out
    assert "machine differs: ISA: baseline sse4" in out
    assert f"ISA differs: baseline sse4, now {level(isa_flags())}" in out.split("REGRESSED", 1)[1]
    # the same accuracy on another ISA is not news
    Path(demo.path, "same.json").write_text(json.dumps(_elsewhere(json.loads(json.dumps(doc)))))
    assert aibench(["compare", str(Path(demo.path, "same.json")), str(Path(demo.path, "now.json"))]) == 0
    out = capsys.readouterr().out
    assert "machine differs: ISA: baseline sse4" in out and "ISA differs" not in out


@pytest.mark.slow
def test_rerun_names_the_isa_difference(demo, linear_model, capsys, monkeypatch):
    from pytest_aibench.cli import main as aibench

    _, doc = _run(demo, linear_model)
    d = Path(demo.path)
    (d / "r.json").write_text(json.dumps(_elsewhere(doc, -0.01)))
    assert aibench(["bundle", str(d / "r.json"), "-o", str(d / "b.tar.gz"), "--root", str(d)]) == 0
    monkeypatch.chdir(d)
    capsys.readouterr()
    assert aibench(["rerun", str(d / "b.tar.gz"), "--root", str(d), "--tolerance", "10"]) == 1
    out = capsys.readouterr().out
    assert "machine differs: ISA: baseline sse4" in out
    assert f"(same seed: must be equal); ISA differs: baseline sse4, now {level(isa_flags())}" in out


# -- the shipped zoo on this CPU and on an emulated AVX2 one ----------------------------------------
@cache
def _card(name: str) -> dict:
    return json.loads((FIXTURES / name / "card.json").read_text())


def _variants(portable: bool) -> list[tuple[str, str]]:
    return [
        (name, key)
        for name in RECIPES
        if (FIXTURES / name / "card.json").is_file() and RECIPES[name].task == "classification"
        for key, art in _card(name)["artifacts"].items()
        if art["isa"]["portable"] is portable
    ]


@cache
def _eval_x(name: str):
    from pytest_aibench.builder import datasets_for

    data = datasets_for(RECIPES[name])[0]
    return data.x_eval, data.y_eval


def _card_predictions(name: str, key: str) -> np.ndarray:
    from pytest_aibench.files import verify

    card = _card(name)
    path = FIXTURES / name / card["predictions"]["file"]
    verify(path, card["predictions"]["sha256"], "card predictions")
    with np.load(path, allow_pickle=False) as z:
        return z[key.replace("/", "__")]


def _here(name: str, key: str, samples: int | None = None) -> np.ndarray:
    from pytest_aibench.builder import isa_check
    from pytest_aibench.registry import RUNNERS
    from pytest_aibench.runtimes import missing

    why = missing(RUNNERS.get(key.split("/")[0]))
    if why:
        pytest.skip(why)
    x, _ = _eval_x(name)
    x = x[:samples]
    return isa_check.predict(isa_check.variants_of(_card(name), FIXTURES / name, [key]), x, threads=2)[key].argmax(-1)


def _where(card: dict) -> str:
    return f"the card's were measured on {card['measured_on']['cpu']}, {describe(card['measured_on']['isa'])}"


def test_every_card_records_where_and_how_its_accuracies_hold():
    for name in RECIPES:
        card = _card(name)
        assert card["measured_on"]["isa"] and card["measured_on"]["cpu"], name
        for key, art in card["artifacts"].items():
            assert isinstance(art["isa"]["portable"], bool) and art["isa"]["how"], (name, key)
            if key.split("/")[1] in ("int8", "int8_dynamic") and key.startswith("onnxruntime/"):
                assert "reduce_range" in art["method"] and "7-bit" in art["method"], (name, key)
        assert card["isa_check"].get("emulated") or card["isa_check"].get("why"), name


@pytest.mark.slow
@pytest.mark.parametrize("name, key", _variants(True))
def test_integer_variant_gives_its_cards_predictions_on_this_cpu(name, key):
    """Integer arithmetic that cannot saturate gives the same predictions on every ISA: exactly the
    predictions the build measured, whatever CPU this is."""
    card = _card(name)
    got, expected = _here(name, key), _card_predictions(name, key)
    differing = int((got != expected).sum())
    assert differing == 0, (
        f"{name} {key}: {differing} of {len(expected)} predictions on this CPU ({HERE}) differ "
        f"from the card's; {_where(card)}; the variant promises identical predictions on every "
        f"ISA: {card['artifacts'][key]['isa']['how']}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name, key", _variants(False))
def test_float_variant_agrees_with_its_card_on_this_cpu(name, key):
    """Float kernels are picked by ISA: on the CPU kind the card was built on the predictions are the
    card's exactly; on another ISA they may differ on samples at a decision boundary, so the figure
    expected there is accuracy within 2 samples of the card's and 99 % agreement."""
    card = _card(name)
    got, expected = _here(name, key), _card_predictions(name, key)
    _, y = _eval_x(name)
    differing = int((got != expected).sum())
    same_kind = card["measured_on"]["isa"] == list(isa_flags()) and card["measured_on"]["cpu"] == cpu_summary()["cpu"]
    where = f"this CPU: {HERE}; {_where(card)}"
    if same_kind:
        assert differing == 0, (
            f"{name} {key}: {differing} predictions differ on the CPU kind the card was built on ({where})"
        )
    else:
        acc, card_acc = float((got == y).mean()), card["accuracy"][key]
        assert abs(acc - card_acc) <= 2 / len(y) and differing <= 0.01 * len(y), (
            f"{name} {key}: accuracy {acc:.4f} (card {card_acc:.4f}), {differing} predictions differ ({where})"
        )


@pytest.mark.slow
def test_integer_variants_are_identical_on_an_emulated_avx2_cpu():
    """Every integer variant of every shipped model, run in ``qemu-x86_64 -cpu EPYC`` (AVX2 without
    AVX-512 or VNNI: the other machine kind CI runs on), gives the card's predictions."""
    from pytest_aibench.builder import isa_check

    if isa_check.emulator() is None:
        pytest.skip(isa_check.INSTALL_HINT)
    samples = 48
    jobs, expected = [], []
    for name in RECIPES:
        keys = [key for n, key in _variants(True) if n == name]
        if keys:
            jobs.append((isa_check.variants_of(_card(name), FIXTURES / name, keys), _eval_x(name)[0][:samples]))
            expected.append({key: _card_predictions(name, key)[:samples] for key in keys})
    results, isa = isa_check.run_emulated_many(jobs)
    assert level(isa) == "avx2"
    bad = {
        f"{job[0][0].path.split('/')[-2]} {key}": int((scores.argmax(-1) != want[key]).sum())
        for job, got, want in zip(jobs, results, expected, strict=True)
        for key, scores in got.items()
        if (scores.argmax(-1) != want[key]).any()
    }
    assert sum(len(w) for w in expected) >= 20 and not bad, (
        f"on the emulated CPU ({describe(isa)}) these integer variants differ from their cards (samples differing "
        f"of {samples}): {bad}"
    )
