"""The plugin's command-line options, in groups (what to run; what to compare with; where and how items
run; which files to write). The file options come from the report formats' registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy
from pytest_aibench.outputs import at_least_one, positive_float

if TYPE_CHECKING:
    from pytest_aibench.report import formats
else:
    formats = lazy("pytest_aibench.report.formats")

DEFAULT_SEED = 0


def add_run_options(group: Any) -> None:
    """What to run: manifests, profile, seed, output folder."""
    group.addoption(
        "--aibench",
        action="append",
        default=[],
        metavar="PATH",
        help="run the suite manifest PATH, or every manifest under the folder PATH; repeatable",
    )
    group.addoption(
        "--aibench-profile",
        metavar="NAME",
        default=None,
        help="settings profile from the manifests (e.g. quick, full); default: each manifest's "
        "default_profile, else 'quick' where defined",
    )
    group.addoption(
        "--aibench-seed",
        metavar="INT",
        type=int,
        default=DEFAULT_SEED,
        help=f"run seed; each item's seed derives from it and the item id (default {DEFAULT_SEED})",
    )
    group.addoption(
        "--aibench-out",
        metavar="DIR",
        default=".aibench",
        help="folder for journals and run records (default .aibench)",
    )


def add_gate_options(group: Any) -> None:
    """What to compare with: a saved baseline or a reference re-measured beside each item, and the rules."""
    group.addoption(
        "--aibench-save",
        metavar="NAME",
        default=None,
        help="save this run (metrics and raw samples) as baseline NAME in the output folder",
    )
    group.addoption(
        "--aibench-compare",
        metavar="NAME|PATH",
        default=None,
        help="compare each item with a saved baseline (NAME) or a run JSON (PATH)",
    )
    group.addoption(
        "--aibench-against",
        metavar="REF",
        default=None,
        help="gate every item against the same case at REF, re-measured now beside it, interleaved: a saved "
        "baseline name, a run JSON, a bundle, a folder holding a checkout, or git:REV",
    )
    group.addoption(
        "--aibench-against-python",
        metavar="PATH",
        default=None,
        help="with --aibench-against: run the reference side in this interpreter (e.g. a venv with the "
        "previous runtime), a lockstep partner pinned to the same CPUs",
    )
    group.addoption(
        "--aibench-against-unknown",
        choices=("pass", "fail"),
        default="pass",
        help="with --aibench-against: what an UNKNOWN verdict (budget spent, still undecided) does to its item "
        "(default pass, reported as inconclusive)",
    )
    group.addoption(
        "--aibench-fail-on",
        metavar="RULES",
        action="append",
        default=None,
        help="fail an item that regressed against the baseline or the reference, e.g. "
        "'latency.p99:+10%%,accuracy:-0.005' (latency changes must also be borne out by the evidence); "
        "repeatable: the rules of every use apply",
    )


def add_place_options(group: Any) -> None:
    """Where and how items run: isolation, timeouts, resuming, repeats, a cluster."""
    group.addoption(
        "--aibench-no-code",
        action="store_true",
        default=False,
        help="refuse manifests that name code (factory:, module:callable stages), whatever they trust: "
        "`aibench rerun` sets it for a bundle's manifests, which never carry code",
    )
    group.addoption(
        "--aibench-isolate",
        action="store_true",
        default=False,
        help="measure each item in a child process: a runtime that crashes fails only that item",
    )
    group.addoption(
        "--aibench-timeout",
        metavar="SECONDS",
        type=positive_float,
        default=None,
        help="end an item that runs longer (implies --aibench-isolate); a manifest's `timeout:` too",
    )
    group.addoption(
        "--aibench-resume",
        nargs="?",
        const="check",
        choices=("check", "force"),
        default=None,
        help="continue the latest run: skip items its journal already holds, keep their results; refused "
        "when the manifests, seed or profile differ from that run's, unless --aibench-resume=force "
        "(each item then keeps its own settings in the run JSON)",
    )
    group.addoption(
        "--aibench-items",
        metavar="FILE",
        default=None,
        help="run only the items whose ids (suite::model[params]) FILE lists, one per line "
        "(aibench rerun passes a bundle's items)",
    )
    group.addoption(
        "--aibench-repeat",
        metavar="N",
        type=at_least_one,
        default=1,
        help="measure each item N times and report whether its predictions were bit-identical",
    )
    group.addoption(
        "--aibench-cluster",
        metavar="ADDRESS|local:SPEC",
        default=None,
        help="run topology roles on a Dask cluster: a scheduler address, or local:N / local:edge,cloud "
        "for loopback worker processes (also `cluster:` in a manifest)",
    )
    group.addoption(
        "--aibench-dispatch",
        action="store_true",
        default=False,
        help="measure each item on a cluster worker offering its `device` resource (a device farm)",
    )


def add_file_options(group: Any) -> None:
    """The files a run may write besides its journal: one option per registered report format (each
    checked before the first item, written by the controller at the end)."""
    for fmt in formats.formats():
        if fmt.option:
            group.addoption(fmt.option, metavar="PATH", default=None, dest=fmt.dest, help=fmt.help)
