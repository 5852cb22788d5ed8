"""Suite -> cases: the product of the axes per model, then ``matrix.exclude`` and ``matrix.include``
with GitHub Actions' semantics, then stable ids."""

from __future__ import annotations

from itertools import product
from typing import Any

from pytest_aibench.core.case import Case
from pytest_aibench.core.model import Suite
from pytest_aibench.heap import no_gc
from pytest_aibench.manifest.validate import value_token
from pytest_aibench.manifest.yamlsafe import Problem

#: (model, axis values in ``suite.axis_names`` order, their marker tokens, include/grid variables)
Combo = tuple[str, tuple[Any, ...], tuple[str, ...], dict[str, Any]]


def expand(suite: Suite) -> tuple[list[Case], list[Problem]]:
    """All cases of ``suite`` in a deterministic order, or the problems that prevent it.

    Exclude drops every combination matching all keys of a rule. Each include rule then extends
    every original combination whose axis values it does not contradict with its other keys (as
    variables); if it extends none, it adds new combinations: its keys crossed with every value of the
    axes it leaves out.
    """
    problems: list[Problem] = []
    size = matrix_size(suite)
    if size > suite.max_items:
        return [], [
            Problem(
                suite.lines.line_of(("models",)),
                ("models",),
                f"the matrix expands to {size:,} combinations before exclude rules, over this suite's "
                f"limit of {suite.max_items:,} items; narrow the axes, or set 'max_items: {size}' at the "
                "top level if you mean to run them all",
            )
        ]
    with no_gc():  # tens of thousands of acyclic tuples: the cycle collector would only re-walk the heap
        include_used = [False] * len(suite.include)
        combos = [c for model in suite.models.values() for c in _model_combos(suite, model.name, include_used)]
        added = _new_combos(suite, include_used)
        if suite.grid:  # every hyper-parameter point is its own item
            combos = [(m, vals, toks, {**var, **point}) for m, vals, toks, var in combos for point in suite.grid]
            added = [(m, vals, toks, {**var, **point}) for m, vals, toks, var in added for point in suite.grid]
        return _cases(suite, combos + added, problems), problems


def emptied(suite: Suite, cases: list[Case]) -> Problem | None:
    """A manifest whose exclude rules leave nothing to run: say so (pytest would exit 5 without a word)."""
    if cases or not suite.exclude:
        return None
    return Problem(
        suite.lines.line_of(("matrix", "exclude")),
        ("matrix", "exclude"),
        f"the exclude rules remove every one of the {matrix_size(suite):,} combinations: nothing is "
        "left to run; loosen a rule, or add the combinations you want with 'include:'",
    )


def matrix_size(suite: Suite) -> int:
    """Combinations before exclude and include, counted without building them."""
    suite_axes = dict(suite.axes)
    total = 0
    for model in suite.models.values():
        n = 1
        for name in suite.axis_names:
            n *= len(model.axes.get(name) or suite_axes[name])
        total += n
    return total * max(1, len(suite.grid or ()))


def _rule_on(rule: dict[str, Any], model: str, at: dict[str, int]) -> list[tuple[int, Any]] | None:
    """``rule``'s axis conditions as (axis index, value) for ``model``'s combinations (``at``: each axis
    name's index), or None when it names another model or a key that is not an axis (such a rule can
    match no combination)."""
    if rule.get("model", model) != model:
        return None
    if any(k != "model" and k not in at for k in rule):
        return None
    return [(at[k], v) for k, v in rule.items() if k != "model"]


def _model_combos(suite: Suite, model: str, include_used: list[bool]) -> list[Combo]:
    """One model's product of axis values, less the excluded ones, each with the variables of the
    include rules that extend it. Values and tokens come from two products in step,
    each axis value's marker token is computed once per model, not once per item."""
    names = list(suite.axis_names)
    suite_axes = dict(suite.axes)
    values = [suite.models[model].axes.get(n) or suite_axes[n] for n in names]
    tokens = [[axis_token(n, v) for v in vs] for n, vs in zip(names, values, strict=True)]
    at = {n: i for i, n in enumerate(names)}
    excludes = [r for r in (_rule_on(rule, model, at) for rule in suite.exclude) if r is not None]
    # the two products walk in the same order: each combination's values and their tokens, built in C
    base = list(zip(product(*values), product(*tokens), strict=True))
    if excludes:
        base = [(vals, toks) for vals, toks in base if not any(all(vals[a] == v for a, v in r) for r in excludes)]
    variables: list[dict[str, Any]] = [{} for _ in base]
    for i, rule in enumerate(suite.include):
        if rule.get("model", model) != model:
            continue
        at = {n: j for j, n in enumerate(names)}
        conditions = [(at[k], v) for k, v in rule.items() if k in at]
        extra = {k: v for k, v in rule.items() if k not in at and k != "model"}
        for (vals, _), var in zip(base, variables, strict=True):
            if all(vals[a] == v for a, v in conditions):
                var.update(extra)
                include_used[i] = True
    return [(model, vals, toks, var) for (vals, toks), var in zip(base, variables, strict=True)]


def _new_combos(suite: Suite, include_used: list[bool]) -> list[Combo]:
    """Include rules that extended nothing: each adds new combinations, its keys crossed with every value
    of the axes it leaves out (and every model, if it names none): an axis added to a suite, such as
    ``device: [cpu, cuda]``, applies to the combinations include rules add too."""
    names = list(suite.axis_names)
    suite_axes = dict(suite.axes)
    out = []
    for used, rule in zip(include_used, suite.include, strict=True):
        if used:
            continue
        missing = [n for n in names if n not in rule]
        variables = {k: v for k, v in rule.items() if k not in names and k != "model"}
        for model in [rule["model"]] if "model" in rule else list(suite.models):
            spec = suite.models.get(model)
            if spec is None:  # validation reports it (matrix.include.N.model: unknown model)
                continue
            for values in product(*[spec.axes.get(n) or suite_axes[n] for n in missing]):
                given = {**{n: rule[n] for n in names if n in rule}, **dict(zip(missing, values, strict=True))}
                vals = tuple([given[n] for n in names])
                toks = tuple([axis_token(n, v) for n, v in zip(names, vals, strict=True)])
                out.append((model, vals, toks, dict(variables)))  # after exclude, as GHA
    return out


def _cases(suite: Suite, combos: list[Combo], problems: list[Problem]) -> list[Case]:
    """Cases with stable, unique ids (axis values, then grid point, then include variables)."""
    names = list(suite.axis_names)
    seen: set[str] = set()
    token = axis_token
    cases: list[Case] = []
    for model, vals, toks, var in combos:
        axes = tuple(zip(names, vals, strict=True))
        pid = (
            "-".join(toks)
            if None not in vals
            else "-".join([t for v, t in zip(vals, toks, strict=True) if v is not None])
        )  # no scenario: no token
        if suite.grid:
            pid += "-" + "-".join(
                f"{k}_{var[k]}" if isinstance(var[k], str) else token(k, var[k]) for k in suite.grid[0] if k in var
            )
        key = f"{model}[{pid}]"
        if key in seen and var:
            pid += "-" + "-".join(token(k, v) for k, v in sorted(var.items()))
            key = f"{model}[{pid}]"
        if key in seen:
            problems.append(
                Problem(
                    suite.lines.line_of(("matrix",)),
                    ("matrix",),
                    f"two combinations share the id {key}; make the include rules distinct",
                )
            )
            continue
        seen.add(key)
        cases.append(Case(suite.name, model, axes, tuple(sorted(var.items())) if var else (), pid, suite, toks))
    return cases


_TOKENS: dict[tuple[str, Any, type], str] = {}  # value_token is pure; 10k items share a few values


def axis_token(axis: str, value: Any) -> str:
    """:func:`value_token`, remembered: collection asks it for every item and axis."""
    try:
        key = (axis, value, type(value))
        token = _TOKENS.get(key)
    except TypeError:  # an unhashable value (a list axis): computed each time
        return value_token(axis, value)
    if token is None:
        token = _TOKENS[key] = value_token(axis, value)
    return token


def marker_tokens(case: Case) -> list[str]:
    """Marker names an item carries: its model and each axis value."""
    if len(case.tokens) == len(case.axes):
        return [case.model, *case.tokens]
    return [case.model] + [axis_token(n, v) for n, v in case.axes]
