"""The manifest YAML reader: plain data or a located YamlError, never anything else."""

from __future__ import annotations

import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_aibench.manifest.yamlsafe import MAX_DEPTH, MAX_NODES, YamlError, loads

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(documents)
def test_round_trips_any_plain_document(doc):
    text = yaml.safe_dump({"root": doc}, allow_unicode=True)
    data, index = loads(text.encode())
    assert data == yaml.safe_load(text)
    assert index.line_of(("root",)) == 1


@given(st.binary(max_size=300))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_bytes_give_data_or_yaml_error(raw):
    try:
        loads(raw)
    except YamlError as exc:
        assert exc.problems and all(p.message for p in exc.problems)


yaml_alphabet = st.sampled_from(list("abc:-[]{},&*!|>'\"#\n  \t0123456789.") + ["!!python/object", "<<", "---", "..."])


@given(st.lists(yaml_alphabet, max_size=80).map("".join))
def test_yaml_looking_text_gives_data_or_yaml_error(text):
    try:
        loads(text.encode())
    except YamlError as exc:
        assert exc.problems


def test_lines_are_kept_for_every_key_path():
    _, index = loads(b"suite: x\nmodels:\n  a:\n    zoo: z\n  b:\n    file: f\nlist:\n  - 1\n  - two\n")
    assert index.line_of(("models", "b", "file")) == 6
    assert index.line_of(("list", 1)) == 9
    assert index.line_of(("models", "a", "nothere")) == 3  # falls back to the closest ancestor


@pytest.mark.parametrize(
    "text, message",
    [
        (b"", "file is empty"),
        (b"a: !!python/object/apply:os.system ['x']", "is not allowed"),
        (b"a: !!python/name:os.system", "is not allowed"),
        (b"a: !mytag 1", "tag '!mytag' is not allowed"),
        (b"a: 1\na: 2\n", "duplicate key 'a' (first on line 1)"),
        (b"\xff\xfe\x00", "NUL bytes"),
        (b"a: \xe9t\xe9\n", "not UTF-8 text"),
        (b"a: [1,\n", "YAML syntax error"),
        (b"--- 1\n--- 2\n", "YAML syntax error"),
        (b"[" * 5000 + b"]" * 5000, "nested"),
    ],
)
def test_hostile_or_broken_documents_are_refused(text, message):
    with pytest.raises(YamlError) as info:
        loads(text)
    assert message in str(info.value)


def test_billion_laughs_is_refused_quickly_and_small():
    levels = [b"a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        levels.append(f"a{i}: &a{i} [{refs}]".encode())
    t0 = time.perf_counter()
    with pytest.raises(YamlError, match=f"more than {MAX_NODES} values"):
        loads(b"\n".join(levels))
    assert time.perf_counter() - t0 < 10  # bounded work, not a timing claim: 10^10 nodes would never end


def test_anchors_merges_and_dates_are_plain_data():
    data, _ = loads(b"base: &b {warmup: 1}\nquick:\n  <<: *b\n  latency_samples: 5\nwhen: 2024-01-01\n")
    assert data == {"base": {"warmup": 1}, "quick": {"warmup": 1, "latency_samples": 5}, "when": "2024-01-01"}


def test_depth_limit_is_reported():
    doc = b"a: " + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5)
    with pytest.raises(YamlError, match="nested deeper than"):
        loads(doc)
