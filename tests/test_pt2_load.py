"""Loading a torch.export archive with repeated parsing memoised gives the very program torch's own load
gives, and leaves sympy and typing as they were."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sympy = pytest.importorskip("sympy")

from pytest_aibench.runtimes import torch_runner  # noqa: E402 (after the skip: it needs torch)

MODELS = Path(__file__).resolve().parent.parent / "fixtures" / "models"


def test_the_memoised_load_gives_the_program_torch_loads() -> None:
    path = MODELS / "squeezenet-shapes" / "model.int8.pt2"  # batch, height and width symbolic
    mine = torch_runner.load_exported(str(path))
    theirs = torch.export.load(str(path))
    assert len(mine.range_constraints) > 1  # the case the memo is for: symbolic sizes
    assert str(mine.range_constraints) == str(theirs.range_constraints)
    assert str(mine.graph) == str(theirs.graph)
    x = torch.randn(3, 3, 40, 40)  # a batch and a size other than the ones exported with
    torch.testing.assert_close(mine.module()(x), theirs.module()(x), rtol=0, atol=0)


def test_sympy_and_typing_are_restored_even_when_the_load_fails(tmp_path: Path) -> None:
    sympify, hints = sympy.sympify, typing.get_type_hints
    bad = tmp_path / "model.pt2"
    bad.write_bytes(b"PK\x03\x04 not an archive")
    with pytest.raises(Exception):  # noqa: B017 (torch's own error type for a corrupt archive)
        torch_runner.load_exported(str(bad))
    assert sympy.sympify is sympify and typing.get_type_hints is hints


def test_the_memo_keys_on_the_objects_the_names_stand_for() -> None:
    """The same text with a different object behind a name parses differently: never a stale answer."""
    plain, positive = sympy.Symbol("s0"), sympy.Symbol("s0", positive=True)
    with torch_runner._memoised_parsing():
        a = sympy.sympify("2*s0 + 1", locals={"s0": plain})
        b = sympy.sympify("2*s0 + 1", locals={"s0": positive})
        again = sympy.sympify("2*s0 + 1", locals={"s0": plain, "s9": positive})  # unrelated names do not matter
        assert a.free_symbols == {plain} and b.free_symbols == {positive}
        assert again is a
        first = typing.get_type_hints(torch_runner.RuntimeOption)
        first.clear()  # a caller mutating its answer does not poison the memo
        assert typing.get_type_hints(torch_runner.RuntimeOption)
    assert sympy.sympify("2*s0 + 1", locals={"s0": positive}) == b
