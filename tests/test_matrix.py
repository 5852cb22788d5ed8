"""Matrix expansion: product, exclude, include (GitHub Actions semantics), stable ids and seeds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pytest_aibench.core.case import Case
from pytest_aibench.core.model import DatasetSpec, ModelSpec, Suite
from pytest_aibench.manifest.matrix import expand, marker_tokens


def suite(axes, include=(), exclude=(), models=("m",)) -> Suite:
    return Suite(
        name="s",
        version="1",
        path=Path("s.yaml"),
        sha256="",
        datasets={"d": DatasetSpec("d", "digits")},
        models={m: ModelSpec(name=m, dataset="d", zoo="z") for m in models},
        axes=tuple(axes),
        include=tuple(include),
        exclude=tuple(exclude),
    )


def combos(cases: list[Case]) -> list[dict]:
    return [{"model": c.model, **dict(c.axes), **dict(c.variables)} for c in cases]


def test_github_actions_include_example():
    """The example from GitHub's docs on matrix include, with fruit/animal as axes."""
    s = suite(
        [("fruit", ("apple", "pear")), ("animal", ("cat", "dog"))],
        include=[
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"model": "m", "fruit": "banana", "animal": "cat"},
        ],
    )
    cases, problems = expand(s)
    assert not problems
    assert combos(cases) == [
        {"model": "m", "fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"model": "m", "fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"model": "m", "fruit": "pear", "animal": "cat", "color": "pink"},
        {"model": "m", "fruit": "pear", "animal": "dog", "color": "green"},
        {"model": "m", "fruit": "banana", "animal": "cat"},
    ]


def test_exclude_is_a_partial_match_and_runs_before_include():
    s = suite(
        [("framework", ("torch", "ort")), ("quantization", ("fp32", "int8"))],
        exclude=[{"framework": "torch", "quantization": "int8"}],
        include=[{"model": "m", "framework": "torch", "quantization": "int8", "note": "back"}],
    )
    cases, _ = expand(s)
    assert [c.param_id for c in cases] == ["torch-fp32", "ort-fp32", "ort-int8", "torch-int8"]
    assert dict(cases[-1].variables) == {"note": "back"}


def test_ids_seeds_and_markers_are_stable():
    s = suite([("framework", ("torch",)), ("batch", (1, 8)), ("fast", (True,))], models=("a", "b"))
    cases, _ = expand(s)
    assert [c.id for c in cases] == [
        "s::a[torch-batch_1-fast_true]",
        "s::a[torch-batch_8-fast_true]",
        "s::b[torch-batch_1-fast_true]",
        "s::b[torch-batch_8-fast_true]",
    ]
    again, _ = expand(s)
    assert [c.seed(0) for c in cases] == [c.seed(0) for c in again]
    assert cases[0].seed(0) != cases[0].seed(1)
    # common random numbers: the batch axis is a compared condition, so it does not feed the seed
    assert cases[0].seed(0) == cases[1].seed(0) != cases[2].seed(0) == cases[3].seed(0)
    assert "batch" not in dict(cases[0].seed_keys()) and dict(cases[0].seed_keys())["model"] == "a"
    opted, _ = expand(replace(s, seed_from=("batch",)))  # a manifest that wants each value's own numbers
    assert len({c.seed(0) for c in opted}) == 4
    assert marker_tokens(cases[1]) == ["a", "torch", "batch_8", "fast_true"]


values = st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=1, max_size=4, unique=True)


@given(
    values,
    values,
    st.lists(
        st.fixed_dictionaries({}, optional={"a": st.sampled_from("xyzw"), "b": st.sampled_from("xyzw")}), max_size=3
    ),
)
def test_exclude_removes_exactly_the_matching_combinations(a, b, rules):
    cases, problems = expand(suite([("a", tuple(a)), ("b", tuple(b))], exclude=rules))
    got = {(dict(c.axes)["a"], dict(c.axes)["b"]) for c in cases}
    want = {(x, y) for x in a for y in b if not any(all({"a": x, "b": y}[k] == v for k, v in r.items()) for r in rules)}
    assert got == want and not problems
    assert len({c.id for c in cases}) == len(cases)
