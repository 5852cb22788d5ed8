"""Each contribution declared once and read everywhere: the metric catalogue (labels, directions, columns,
scores), typed paradigm parameters checked by the manifest, and one registry of report formats that the
plugin's options, the controller and ``aibench report`` all iterate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import manifest
from pytest_aibench.core.metric import Catalogue, MetricInfo, column, declare
from pytest_aibench.judge.catalogue import catalogue, known_metric_names, paradigm_metrics
from pytest_aibench.manifest.params import declared, type_problem
from pytest_aibench.paradigms import PARADIGMS, params_of
from pytest_aibench.report.formats import REPORTS, formats
from pytest_aibench.report.ranking import columns

XSD = Path(__file__).parent / "data" / "junit-10.xsd"


# -- the catalogue -------------------------------------------------------------------------------------------
def test_patterns_answer_the_names_they_match_and_the_first_declaration_wins() -> None:
    first = declare(("a.x", "first", True), ("ll.task_accuracy.*", "per task", True, "1"))
    cat = Catalogue([("g", first), ("p", declare(("a.x", "second", False)))])
    assert cat["a.x"].label == "first" and cat.declared_by["a.x"] == "g"
    assert "ll.task_accuracy.rotated" in cat and cat.direction("ll.task_accuracy.rotated") is True
    assert "ll.other" not in cat and cat.direction("nope") is None


def test_a_column_formats_scales_and_ranks_as_declared() -> None:
    provides = declare(("e.j", "joules", False, "J"), ("s", "score", True))
    provides |= column(provides, {"e.j": ("mJ", "{:.1f}", 1000.0), "s": ("S", "{:.2f}", 1.0, 5)})
    cat = Catalogue([("g", provides)])
    assert [n for n, _ in cat.columns()] == ["e.j", "s"] and cat.scores() == ["s"]
    assert provides["e.j"].show(0.0123) == "12.3" and provides["e.j"].show(True) == "-"
    assert MetricInfo("t", None, fmt="{}").show("VALID") == "VALID"


def test_every_paradigm_declares_its_metrics_and_they_are_gateable_and_ranked() -> None:
    cat = catalogue()
    for name in PARADIGMS.names():
        provides = getattr(PARADIGMS.get(name), "provides", None)
        assert isinstance(provides, dict), f"paradigm {name} declares no metrics"
        assert all(isinstance(i, MetricInfo) for i in provides.values())
    assert "split.accuracy" in known_metric_names() and "split.accuracy" in paradigm_metrics(["multi_edge_inference"])
    assert cat.scores()[:4] == ["vips", "sim.fps", "trial.accuracy", "accuracy"]
    # the leaderboards read their headers from the catalogue, so a paradigm's column appears where it measured
    from pytest_aibench.core.result import Result

    r = Result(id="s::m[x]", suite="s", model="m", axes={}, metrics={"fl.final_accuracy": 0.9, "accuracy": 0.8})
    assert [n for n, _ in columns([r])] == ["accuracy", "fl.final_accuracy"]


# -- typed parameters ----------------------------------------------------------------------------------------
def test_every_paradigm_declares_frozen_params_with_defaults() -> None:
    import dataclasses

    for name in PARADIGMS.names():
        cls = params_of(name)
        assert cls is not None, f"paradigm {name} declares no Params"
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        cls()  # every field has a default
        assert all(
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            for f in dataclasses.fields(cls)
        )
    assert declared("federated_learning")["rounds"] is int


@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=5),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=3),
    )
)
def test_type_problems_accept_exactly_the_declared_kinds(value: object) -> None:
    assert (type_problem(value, int) is None) == (isinstance(value, int) and not isinstance(value, bool))
    assert (type_problem(value, bool) is None) == isinstance(value, bool)
    assert (type_problem(value, int | None) is None) == (value is None or type_problem(value, int) is None)
    is_int_list = isinstance(value, list) and all(isinstance(v, int) for v in value)
    assert (type_problem(value, tuple[int, ...]) is None) == is_int_list


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("params:\n  single: {rouds: 3}\n", "*single has no parameter 'rouds'*"),
        ("params:\n  federated_learning: {rouds: 3}\n", "*has no parameter 'rouds'*did you mean 'rounds'?*"),
        ("params:\n  federated_learning: {rounds: many}\n", "*rounds: expected a whole number, got 'many'*"),
        ("params:\n  federted_learning: {rounds: 3}\n", "*unknown paradigm 'federted_learning'*did you mean*"),
        ("grid:\n  params: {warmpu: [1, 2]}\n", "*grid parameter 'warmpu'*did you mean 'warmup'?*"),
    ],
)
def test_a_mistaken_parameter_is_a_usage_error_naming_file_line_and_key(
    demo: pytest.Pytester, linear_model: tuple[bytes, str], params: str, expected: str
) -> None:
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], extra=params))
    result = demo.runpytest("--aibench", "suite.yaml", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*suite.yaml:1[0-9]*{expected}"])


def test_a_gate_on_a_metric_the_suites_paradigm_records_is_accepted(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    extra = "paradigms: [multi_edge_inference]\n"
    (Path(demo.path) / "suite.yaml").write_text(
        manifest(linear_model[1], gates='split.accuracy: ">= 0.0"', extra=extra)
    )
    demo.runpytest("--aibench", "suite.yaml", "--collect-only", "-q").assert_outcomes()
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], gates='split.acuracy: ">= 0.0"', extra=extra))
    result = demo.runpytest("--aibench", "suite.yaml", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gate on unknown metric 'split.acuracy'*did you mean 'split.accuracy'?*"])


# -- one registry of report formats ----------------------------------------------------------------------------
def test_the_plugin_and_the_cli_offer_every_registered_format(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_aibench.cli import main

    names = {f.name for f in formats()}
    assert {"json", "junit", "csv", "md", "html", "benchmark-json", "gha-json", "bmf"} <= names
    plugin_help = pytester.runpytest_subprocess("--help").stdout.str()
    assert all(f.option in plugin_help for f in formats() if f.option)
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    cli_help = capsys.readouterr().out
    assert all(f.flag in cli_help for f in formats())


def test_a_registered_format_is_written_by_the_plugin_and_by_aibench_report(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    from pytest_aibench.report.formats import ReportFormat, text

    count = ReportFormat("count", "--aibench-count", "--count", "how many items", text(lambda o: str(len(o.results))))
    REPORTS.register("count", count)
    try:
        (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
        demo.runpytest(
            "--aibench",
            "suite.yaml",
            "--aibench-count",
            "n.txt",
            "--aibench-json",
            "run.json",
            "-p",
            "no:cacheprovider",
        ).assert_outcomes(passed=1)
        assert (Path(demo.path) / "n.txt").read_text() == "1"
        from pytest_aibench.cli import main

        assert main(["report", str(Path(demo.path) / "run.json"), "--count", str(Path(demo.path) / "m.txt")]) == 0
        assert (Path(demo.path) / "m.txt").read_text() == "1"
    finally:
        REPORTS.unregister("count")


def test_aibench_report_writes_junit_that_validates_against_pytests_xunit2_schema(
    demo: pytest.Pytester, linear_model: tuple[bytes, str]
) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1], gates='accuracy: ">= 0.999"'))
    demo.runpytest("--aibench", "suite.yaml", "--aibench-json", "run.json").assert_outcomes(failed=1)
    from pytest_aibench.cli import main

    target = Path(demo.path) / "j.xml"
    assert main(["report", str(Path(demo.path) / "run.json"), "--junit", str(target), "--csv", "r.csv"]) == 0
    xmlschema.XMLSchema(str(XSD)).validate(str(target))
    text = target.read_text()
    assert 'failures="1"' in text and "gate failed" in text and "::aibench.accuracy" in text
    assert json.loads((Path(demo.path) / "run.json").read_text())["items"][0]["outcome"] == "failed"


# -- runtimes declare their package and formats ----------------------------------------------------------------
def test_versions_and_machine_comparisons_read_the_runner_registry() -> None:
    from pytest_aibench.judge.compare import machine_differences
    from pytest_aibench.registry import RUNNERS
    from pytest_aibench.runtimes import packages

    class FooRT:
        name, module, package, install_hint, formats = "foort", "foort", "foo-rt", "pip install foo-rt", ("onnx",)

    RUNNERS.register("foort", FooRT())
    try:
        assert packages()["foort"] == "foo-rt" and packages()["onnxruntime"] == "onnxruntime"
        notes = machine_differences({"versions": {"foo-rt": "1.0"}}, {"versions": {"foo-rt": "2.0"}})
        assert notes == ["foo-rt: baseline '1.0', now '2.0'"]
    finally:
        RUNNERS.unregister("foort")


def test_a_zoo_artifact_is_found_by_the_format_a_runner_reads() -> None:
    from pytest_aibench.artifact import find_variant

    built = {
        "onnxruntime/fp32": {"format": "onnx"},
        "onnxruntime/int8": {"format": "onnx"},
        "torch/fp32": {"format": "pt"},
        "litert/fp16": {"format": "tflite"},
    }

    class Reads:
        def __init__(self, *formats: str) -> None:
            self.formats = formats

        def derives(self, quantization: str, fmt: str) -> bool:
            return quantization == "fp16" and fmt == "onnx"

    assert find_variant(built, "openvino", "int8", Reads("onnx")) == ("onnxruntime/int8", "int8")
    assert find_variant(built, "openvino", "fp16", Reads("onnx")) == ("onnxruntime/fp32", "fp32")  # derived
    assert find_variant(built, "openvino", "bf16", Reads("onnx")) is None
    assert find_variant(built, "torch", "fp32", Reads("pt")) == ("torch/fp32", "fp32")
    assert find_variant(built, "tflite2", "fp16", Reads("tflite")) == ("litert/fp16", "fp16")


def test_csv_columns_follow_the_catalogue() -> None:
    from pytest_aibench.core.result import Result
    from pytest_aibench.report.exports import to_csv

    r = Result(
        id="s::m[x]",
        suite="s",
        model="m",
        axes={},
        metrics={"zz": 1, "latency.p50_ms": 2.0, "accuracy": 0.9, "eval.samples": 3},
    )
    header = to_csv([r]).splitlines()[0].split(",")
    assert header[-4:] == ["accuracy", "latency.p50_ms", "eval.samples", "zz"]


def test_a_zoo_rebuild_writes_where_the_zoo_reads_cards() -> None:
    from pytest_aibench.builder import main, models_root
    from pytest_aibench.zoo.cards import find_card

    assert models_root() == find_card("tinycnn-digits").folder.parent
    with pytest.raises(SystemExit):
        main(["build", "--help"])
