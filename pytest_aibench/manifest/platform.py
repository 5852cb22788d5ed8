"""Where an item computes, checked before anything runs: every ``device:`` value (settings, profiles,
models, axes, include rules) and every ``runtime_options`` block against what its runner declares.

A runner declares its options (:class:`pytest_aibench.runtimes.RuntimeOption`) without importing its
runtime, so this check costs nothing at collection; whether a provider, delegate or device is present
on this machine is the runner's to say when it prepares (a skip with the reason, not a manifest error).
"""

from __future__ import annotations

from typing import Any

from pytest_aibench.manifest.checker import Checker, _dict, _show, _typename
from pytest_aibench.registry import suggest
from pytest_aibench.runtimes import RUNNERS, device_problem, options_of


def check(c: Checker, data: dict) -> None:
    """Report every bad ``device`` and ``runtime_options`` in ``data`` at its own line."""
    for kp, block in settings_blocks(data):
        if not isinstance(block, dict):
            continue
        if "device" in block:
            _device(c, kp + ("device",), block["device"])
        if isinstance(block.get("runtime_options"), dict):
            _runtime_options(c, kp + ("runtime_options",), block["runtime_options"])
    for kp, values in _device_axes(data):
        for i, value in enumerate(values):
            _device(c, kp + (i,), value)
    for i, rule in enumerate(_dict(data, "matrix").get("include") or ()):
        if isinstance(rule, dict) and "device" in rule:
            _device(c, ("matrix", "include", i, "device"), rule["device"])


def settings_blocks(data: dict) -> list[tuple[tuple[Any, ...], Any]]:
    """Every settings block with its key path: the suite's, each profile, each model's."""
    blocks: list[tuple[tuple[Any, ...], Any]] = [(("settings",), data.get("settings"))]
    blocks += [(("profiles", name), spec) for name, spec in _dict(data, "profiles").items()]
    blocks += [
        (("models", name, "settings"), spec.get("settings"))
        for name, spec in _dict(data, "models").items()
        if isinstance(spec, dict)
    ]
    return blocks


def _device_axes(data: dict) -> list[tuple[tuple[Any, ...], list[Any]]]:
    found: list[tuple[tuple[Any, ...], list[Any]]] = []
    axes = _dict(data, "axes")
    if isinstance(axes.get("device"), list):
        found.append((("axes", "device"), axes["device"]))
    for name, spec in _dict(data, "models").items():
        own = spec.get("axes") if isinstance(spec, dict) else None
        if isinstance(own, dict) and isinstance(own.get("device"), list):
            found.append((("models", name, "axes", "device"), own["device"]))
    return found


def _device(c: Checker, kp: tuple[Any, ...], value: Any) -> None:
    problem = device_problem(value)
    if problem:
        c.bad(kp, problem)


def _runtime_options(c: Checker, kp: tuple[Any, ...], block: dict) -> None:
    for runner_name, opts in block.items():
        where = kp + (runner_name,)
        if not c.runner_known(str(runner_name)):
            names = RUNNERS.names()
            c.bad(
                where,
                f"unknown runner {runner_name!r}; expected one of: {', '.join(names)}{suggest(runner_name, names)}",
            )
            continue
        if not isinstance(opts, dict):
            c.bad(where, f"expected a mapping of {runner_name}'s options, got {_typename(opts)} {_show(opts)}")
            continue
        try:
            declared = options_of(RUNNERS.get(str(runner_name)))
        except Exception:  # noqa: BLE001 - a broken third-party runner is reported where it is used
            continue
        for key, value in opts.items():
            option = declared.get(str(key))
            if option is None:
                offered = ", ".join(declared) or "none"
                c.bad(
                    where + (key,),
                    f"{runner_name} has no runtime option {key!r} (it declares: {offered}){suggest(key, declared)}",
                )
                continue
            try:
                wrong = option.check(value)
            except Exception as exc:  # noqa: BLE001 - a third-party runner's check must not break the check
                wrong = f"its check raised {type(exc).__name__}: {exc}"
            if wrong:
                c.bad(where + (key,), f"{runner_name} option {key!r}: expected {option.expected}; {wrong}")
