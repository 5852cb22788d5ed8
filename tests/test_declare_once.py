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
