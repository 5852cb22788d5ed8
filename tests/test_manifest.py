"""Manifest validation: every problem located, explained and suggested; valid ones become Suites."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aibench.core.model import Settings
from pytest_aibench.manifest import ManifestError, discover, load, load_all
from pytest_aibench.manifest.validate import parse_gate, schema

VALID = textwrap.dedent("""\
    suite: s
    version: "1.0"
    datasets:
      digits: {source: digits}
    models:
      tiny: {zoo: tinycnn-digits}
    frameworks: [torch, onnxruntime]
    quantizations: [fp32, int8]
    axes:
      threads: [1, 2]
    matrix:
      exclude:
        - {framework: torch, quantization: int8}
    gates:
      accuracy: ">= 0.9"
    profiles:
      quick: {latency_samples: 10}
    """)


def known(name: str) -> bool:
    return name in {"torch", "onnxruntime"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load(write(tmp_path, text), known, display=Path("suite.yaml"))
    return info.value.report().splitlines()[1:]


def test_valid_manifest_becomes_suite_and_cases(tmp_path):
    loaded = load(write(tmp_path, VALID), known)
    s = loaded.suite
    assert s.name == "s" and s.default_profile == "quick"
    assert s.axes == (
        ("framework", ("torch", "onnxruntime")),
        ("quantization", ("fp32", "int8")),
        ("paradigm", ("single",)),
        ("threads", (1, 2)),
    )
    assert [c.param_id for c in loaded.cases] == [
        "torch-fp32-single-threads_1",
        "torch-fp32-single-threads_2",
        "onnxruntime-fp32-single-threads_1",
        "onnxruntime-fp32-single-threads_2",
        "onnxruntime-int8-single-threads_1",
        "onnxruntime-int8-single-threads_2",
    ]
    case = loaded.cases[1]
    assert case.settings("quick") == Settings(latency_samples=10, threads=2)  # same-named axis overrides
    assert str(s.gates[0]) == "accuracy >= 0.9"


def test_all_problems_are_reported_together_with_lines_paths_and_suggestions(tmp_path):
    text = VALID.replace("tiny: {zoo: tinycnn-digits}", "tiny: {zoo: tinycnn-digits, datset: digits}")
    text = text.replace("[fp32, int8]", "[fp32, int9]").replace('">= 0.9"', '"~ 0.9"')
    text = text.replace("{latency_samples: 10}", "{latency_sample: 10}") + "matrx: {}\n"
    keys = {
        name: ", ".join(props)
        for name, props in (
            ("model", schema()["$defs"]["model"]["properties"]),
            ("settings", schema()["$defs"]["settings"]["properties"]),
            ("top", schema()["properties"]),
        )
    }
    lines = problems(tmp_path, text)
    assert lines == [
        f"  suite.yaml:6: models.tiny.datset: unknown key 'datset'; expected one of: {keys['model']}; "
        "did you mean 'dataset'?",
        "  suite.yaml:8: quantizations.1: unknown quantization 'int9'; known: fp32, fp16, bf16, int8, int8_dynamic, int8_weight, int4_weight; "
        "did you mean 'int8'?",
        '  suite.yaml:15: gates.accuracy: expected a comparison such as ">= 0.9" or "<= 20" (operators >= <= > < == !=), '
        "got '~ 0.9'",
        f"  suite.yaml:17: profiles.quick.latency_sample: unknown key 'latency_sample'; expected one of: "
        f"{keys['settings']}; did you mean 'latency_samples'?",
        f"  suite.yaml:18: matrx: unknown key 'matrx'; expected one of: {keys['top']}; did you mean 'matrix'?",
    ]


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda t: t.replace("suite: s\n", ""), "suite.yaml:1: (top level): missing required key 'suite'"),
        (lambda t: t.replace("tiny: {zoo: tinycnn-digits}", "tiny: {}"), "needs exactly one of 'zoo:'"),
        (lambda t: t.replace("tiny: {zoo: tinycnn-digits}", "tiny: {file: m.onnx}"), "needs its 'sha256:'"),
        (
            lambda t: t.replace("{source: digits}", "{source: digits}\n  other: {source: digits}"),
            "model needs 'dataset:'",
        ),
        (
            lambda t: t.replace("frameworks: [torch, onnxruntime]", "frameworks: [torch, torch]"),
            "values must be distinct",
        ),
        (
            lambda t: t.replace("framework: torch, quantization", "frameworks: torch, quantization"),
            "matrix rules use singular axis names: 'framework', not 'frameworks'",
        ),
        (
            lambda t: t.replace("framework: torch, quantization: int8}", "framework: tflite}"),
            "'tflite' is not a value of axis 'framework'",
        ),
        (lambda t: t.replace("threads: [1, 2]", "frameworks: [x]"), "'frameworks' is a standard axis"),
        (lambda t: t.replace('accuracy: ">= 0.9"', 'acuracy: ">= 0.9"'), "did you mean 'accuracy'?"),
        (lambda t: t.replace('accuracy: ">= 0.9"', "accuracy: 0.9"), 'gate needs a comparison, e.g. ">= 0.9"'),
        (lambda t: t + "default_profile: ful\n", "default_profile 'ful' is not among the profiles (quick)"),
        (
            lambda t: t.replace("quantizations: [fp32, int8]", "quantizations: [fp32, skip]"),
            "would shadow pytest's 'skip' marker",
        ),
        (
            lambda t: t.replace("suite: s", "suite: 's/../x'"),
            "suite.yaml:1: suite: expected a name of letters, digits, '_', '.', '+', '-' (not starting with '.', '+' or '-'), got 's/../x'",
        ),
        (lambda t: t.replace("{source: digits}", "{source: npz}"), "needs 'path:'"),
        (
            lambda t: t.replace("{latency_samples: 10}", "{latency_samples: 10, latency_span_s: -1}"),
            "latency_span_s: expected a number >= 0, got -1",
        ),
        (lambda t: t + "matrix:\n  include:\n    - {model: tiny, quantization: fp16}\n", "duplicate key 'matrix'"),
    ],
)
def test_each_kind_of_mistake_has_a_clear_message(tmp_path, edit, expected):
    report = "\n".join(problems(tmp_path, edit(VALID)))
    assert expected in report


def test_include_that_matches_nothing_is_crossed_with_the_axes_it_leaves_out(tmp_path):
    """A new combination takes every value of the axes the rule does not name (an axis added later, such
    as device, applies to it too); a model the suite does not define is an error."""
    text = VALID.replace(
        "  exclude:", "  include:\n    - {model: tiny, framework: onnxruntime, quantization: fp16}\n  exclude:"
    )
    loaded = load(write(tmp_path, text), known)
    suite = loaded.suite
    added = [c for c in loaded.cases if c.axis("quantization") == "fp16" and c.axis("framework") == "onnxruntime"]
    others = [n for n in suite.axis_names if n not in ("framework", "quantization")]
    expected = 1
    for n in others:
        expected *= len(suite.models["tiny"].axes.get(n) or dict(suite.axes)[n])
    assert len(added) == expected > 1 and len({c.param_id for c in added}) == expected
    bad = text.replace("- {model: tiny, framework: onnxruntime", "- {model: nosuch, framework: onnxruntime")
    assert "matrix.include.0.model: unknown model 'nosuch'" in "\n".join(problems(tmp_path, bad))


def test_duplicate_suite_names_across_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "suite.yaml").write_text(VALID)
    (tmp_path / "b" / "suite.yaml").write_text(VALID)
    paths, missing = discover([str(tmp_path)], tmp_path)
    assert len(paths) == 2 and not missing
    with pytest.raises(ManifestError, match="suite name 's' is already used by a/suite.yaml"):
        load_all(paths, known, tmp_path)


def test_discover_skips_non_manifest_yaml_and_reports_missing(tmp_path):
    write(tmp_path, VALID)
    (tmp_path / "data.yaml").write_text("x: 1\n")
    paths, missing = discover([str(tmp_path), "nope"], tmp_path)
    assert paths == [(tmp_path / "suite.yaml").resolve()]
    assert [p.message for _, p in missing] == ["no such file or folder (given to --aibench)"]


def test_shipped_schema_is_valid_and_matches_settings():
    jsonschema.Draft202012Validator.check_schema(schema())
    assert list(schema()["$defs"]["settings"]["properties"]) == list(Settings.names())


def test_shipped_manifests_validate_against_the_schema():
    root = Path(__file__).resolve().parents[1] / "suites"
    manifests = sorted(root.rglob("*.yaml"))
    assert manifests
    for path in manifests:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema())


@pytest.mark.parametrize(
    "text, op, limit",
    [(">= 0.9", ">=", 0.9), ("<=20", "<=", 20.0), ("< 1e-3", "<", 1e-3), ("!= -2", "!=", -2.0), ("== .5", "==", 0.5)],
)
def test_gate_syntax(text, op, limit):
    gate = parse_gate("m", text, "here")
    assert (gate.op, gate.limit) == (op, limit)


@given(st.text(max_size=12))
def test_gate_parser_never_raises(text):
    result = parse_gate("m", text, "here")
    assert isinstance(result, str) or result.op in (">=", "<=", ">", "<", "==", "!=")


def _mutations(doc: dict) -> st.SearchStrategy:
    keys = st.sampled_from(
        [
            "suite",
            "version",
            "datasets",
            "models",
            "frameworks",
            "quantizations",
            "matrix",
            "gates",
            "profiles",
            "axes",
            "metrics",
            "settings",
            "bogus",
        ]
    )
    values = st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=5),
        st.lists(st.text(max_size=4), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    )
    return st.lists(st.tuples(keys, st.one_of(st.just("__delete__"), values)), max_size=4)


@given(_mutations(yaml.safe_load(VALID)))
@settings(max_examples=150, deadline=None)
def test_mutated_manifests_give_a_suite_or_a_manifest_error(tmp_path_factory, edits):
    doc = yaml.safe_load(VALID)
    for key, value in edits:
        if value == "__delete__":
            doc.pop(key, None)
        else:
            doc[key] = value
    path = tmp_path_factory.mktemp("m") / "suite.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    try:
        load(path, known)
    except ManifestError as exc:
        assert all(p.message for _, p in exc.problems)
