"""Report formats: each is one entry (name, the plugin's option, ``aibench report``'s flag, a writer) in
:data:`REPORTS`. The plugin adds its options from it, checks their paths before the first item and writes
them at the end; ``aibench report`` offers the same formats from a finished run. A third party adds one
through the ``pytest_aibench.reports`` entry-point group (or ``REPORTS.register``): one file, one entry.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy
from pytest_aibench.core.result import Result
from pytest_aibench.core.rundoc import write_atomic
from pytest_aibench.core.verdict import Comparison
from pytest_aibench.registry import Registry

if TYPE_CHECKING:
    from pytest_aibench.report import exports, html
else:  # the exporters load when a format is written, not when the options are added
    exports, html = lazy("pytest_aibench.report.exports"), lazy("pytest_aibench.report.html")


@dataclass
class RunOutput:
    """What every writer gets: the run document, its items, and the comparison with a baseline if any."""

    doc: dict[str, Any]
    results: list[Result]
    comparison: Comparison | None = None


@dataclass(frozen=True)
class ReportFormat:
    """One output format. ``option`` is the plugin's (``None``: pytest's own option writes it, e.g. JUnit's
    ``--junitxml``, which the plugin decorates); ``flag`` is ``aibench report``'s."""

    name: str
    option: str | None
    flag: str
    help: str
    write: Callable[[RunOutput, Path], list[Path]] = field(repr=False)

    @property
    def dest(self) -> str | None:
        """The attribute pytest stores the option's value under (``--aibench-csv`` -> ``aibench_csv``)."""
        return self.option.lstrip("-").replace("-", "_") if self.option else None

    @property
    def flag_dest(self) -> str:
        """Where ``aibench report`` keeps the flag's value (``--csv`` -> ``out_csv``)."""
        return "out_" + self.flag.lstrip("-").replace("-", "_")


def text(make: Callable[[RunOutput], str]) -> Callable[[RunOutput, Path], list[Path]]:
    """A writer of one text file."""

    def write(out: RunOutput, target: Path) -> list[Path]:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(make(out), encoding="utf-8")
        return [target]

    return write


def document(make: Callable[[RunOutput], Any]) -> Callable[[RunOutput, Path], list[Path]]:
    """A writer of one JSON document, replaced atomically."""

    def write(out: RunOutput, target: Path) -> list[Path]:
        write_atomic(target, make(out))
        return [target]

    return write


def gha_companion(path: Path, kind: str = "bigger") -> Path:
    """Where the other lists go beside ``--aibench-gha-json PATH``: PATH.bigger.json (bigger is better)
    and PATH.extras.json (tails and one-pass figures: charts, not alerts)."""
    return path.with_name(path.stem + f".{kind}" + (path.suffix or ".json"))


def _gha(out: RunOutput, target: Path) -> list[Path]:
    gated, bigger, extras = exports.gha_json(out.results)
    paths = [target, gha_companion(target), gha_companion(target, "extras")]
    for path, entries in zip(paths, (gated, bigger, extras), strict=True):
        write_atomic(path, entries)
    return paths


def junit_xml(out: RunOutput) -> str:
    """JUnit XML of a finished run, valid in pytest's xunit2 family: one testcase per item, the metrics as
    ``<node id>::aibench.<metric>`` properties of the testsuite (xunit2 allows none in a testcase)."""
    rs = out.results
    counts = {k: sum(r.outcome == k for r in rs) for k in ("failed", "error", "skipped")}
    suite = ET.Element(
        "testsuite",
        name="aibench",
        errors=str(counts["error"]),
        failures=str(counts["failed"]),
        skipped=str(counts["skipped"]),
        tests=str(len(rs)),
        time=f"{sum(float(r.duration_s or 0) for r in rs):.3f}",
        timestamp=str(out.doc.get("started") or out.doc.get("finished") or ""),
        hostname=str((out.doc.get("machine") or {}).get("node") or ""),
    )
    props = ET.SubElement(suite, "properties")
    for r in rs:
        for metric, value in r.metrics.items():
            if isinstance(value, (int, float, str)):
                ET.SubElement(props, "property", name=f"{r.nodeid or r.id}::aibench.{metric}", value=str(value))
    for r in rs:
        path, _, name = (r.nodeid or r.id).partition("::")
        case = ET.SubElement(
            suite,
            "testcase",
            classname=path.replace("/", "."),
            name=name or path,
            time=f"{float(r.duration_s or 0):.3f}",
        )
        kind = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(r.outcome)
        if kind:
            ET.SubElement(case, kind, message=(r.reason or r.outcome).splitlines()[0][:500]).text = r.reason or ""
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _html(out: RunOutput) -> str:
    return html.render(out.doc, out.results, out.comparison)


JSON = ReportFormat(
    "json",
    "--aibench-json",
    "--json",
    "write the run document (machine, manifests with sha256, every item) as JSON",
    document(lambda o: o.doc),
)
BENCHMARK_JSON = ReportFormat(
    "benchmark-json",
    "--aibench-benchmark-json",
    "--benchmark-json",
    "write the run in pytest-benchmark's JSON format (pytest-benchmark compare, github-action-benchmark read it)",
    document(lambda o: exports.benchmark_json(o.doc, o.results)),
)
GHA_JSON = ReportFormat(
    "gha-json",
    "--aibench-gha-json",
    "--gha-json",
    "github-action-benchmark's customSmallerIsBetter JSON to alert on (the paired ratio or the median, top-1 "
    "error); accuracy goes to PATH's .bigger.json, tails and one-pass figures to its .extras.json (charts, "
    "not alerts)",
    _gha,
)
BMF = ReportFormat(
    "bmf",
    "--aibench-bmf",
    "--bmf",
    "Bencher's metric format (BMF): latency, latency-p99, "
    "paired-ratio (each with its own CI as bounds), throughput and accuracy per item",
    document(lambda o: exports.bmf_json(o.results)),
)
HTML = ReportFormat(
    "html",
    "--aibench-html",
    "--html",
    "write a self-contained HTML report (leaderboards, Pareto plots, distributions)",
    text(_html),
)
CSV = ReportFormat(
    "csv", "--aibench-csv", "--csv", "write every item's metrics as CSV", text(lambda o: exports.to_csv(o.results))
)
MARKDOWN = ReportFormat(
    "md",
    "--aibench-md",
    "--md",
    "write the leaderboards (and the comparison) as Markdown, e.g. for a PR comment",
    text(lambda o: exports.to_markdown(o.results, o.comparison)),
)
JUNIT = ReportFormat(
    "junit",
    None,
    "--junit",
    "JUnit XML (xunit2); in a pytest run, pytest's --junitxml writes it and the plugin adds the aibench.* properties",
    text(junit_xml),
)

REPORTS: Registry[ReportFormat] = Registry(
    "report format",
    "pytest_aibench.reports",
    {
        name: f"pytest_aibench.report.formats:{attr}"
        for name, attr in (
            ("json", "JSON"),
            ("benchmark-json", "BENCHMARK_JSON"),
            ("gha-json", "GHA_JSON"),
            ("bmf", "BMF"),
            ("html", "HTML"),
            ("csv", "CSV"),
            ("md", "MARKDOWN"),
            ("junit", "JUNIT"),
        )
    },
)


def formats() -> list[ReportFormat]:
    """Every registered format, in registration order."""
    return [REPORTS.get(name) for name in REPORTS.names()]
