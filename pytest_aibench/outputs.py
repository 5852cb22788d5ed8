"""Output paths and option values checked before the first item runs.

A run that measures for an hour and then cannot write its journal or its JSON has lost an hour: so
every output folder and file is checked (created, writable, not a folder where a file goes) at
configure time, as a usage error naming the option; a bad ``--aibench-save`` name or a nonsensical
number is refused the same way.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

import pytest

from pytest_aibench.report.formats import formats


def file_options() -> list[tuple[str, str]]:
    """(attribute, option) of every file the controller writes at the end of the run: the report formats'."""
    return [(f.dest, f.option) for f in formats() if f.option and f.dest]


SAVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds > 0, got {text!r} (leave the option out for no timeout)"
        )
    return value


def at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _writable_folder(folder: Path, option: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise pytest.UsageError(f"{option} {folder}: not a folder (a file of that name exists); choose another path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".aibench-probe-"):
            pass
    except OSError as exc:
        raise pytest.UsageError(
            f"{option} {folder}: cannot write there ({exc.strerror or exc}); choose a writable folder"
        ) from None


def check_outputs(config: pytest.Config, out: Path) -> None:
    """Every output the run will write is writable now, before anything is measured."""
    opt = config.option
    _writable_folder(out, "--aibench-out")
    base = config.invocation_params.dir
    for attr, option in file_options():
        value = getattr(opt, attr, None)
        if not value:
            continue
        path = Path(value) if Path(value).is_absolute() else base / value
        if path.is_dir():
            raise pytest.UsageError(f"{option} {value}: a folder; give a file path, e.g. {Path(value) / 'aibench.out'}")
        _writable_folder(path.parent, f"{option} {value}: its folder")
        if path.exists() and not os.access(path, os.W_OK):
            raise pytest.UsageError(f"{option} {value}: the file exists and is not writable")
    name = opt.aibench_save
    if name is not None and not SAVE_NAME.fullmatch(name):
        clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "baseline"
        raise pytest.UsageError(
            f"--aibench-save {name!r}: a baseline name is letters, digits, '.', '_' and '-' "
            f"(it names <out>/saved/NAME.json and never leaves that folder); e.g. {clean!r}"
        )
