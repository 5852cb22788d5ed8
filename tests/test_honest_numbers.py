"""What the machine did is shown where people look; absent metrics stay absent (issue: numbers that mean
what they say)."""

from __future__ import annotations

import csv
import io
import json

from pytest_aibench.core.result import Result
from pytest_aibench.report import exports, html, terminal

BUSY = "host busy: other processes used 1.4 of 2 CPUs while timing"


def _results() -> list[Result]:
    quiet = Result(
        id="s::a[ort]",
        suite="s",
        model="a",
        axes={"framework": "onnxruntime"},
        metrics={"accuracy": 0.9, "latency.p50_ms": 1.0, "latency.p99_ms": 2.0},
    )
    busy = Result(
        id="s::b[ort]",
        suite="s",
        model="b",
        axes={"framework": "onnxruntime"},
        metrics={"accuracy": 0.8, "latency.p50_ms": 3.0, "latency.p99_ms": 9.0},
        flags=[BUSY],
    )
    return [quiet, busy]


def test_host_busy_is_shown_beside_the_item_and_in_the_header_of_every_leaderboard() -> None:
    rs = _results()
    text = "\n".join(terminal.leaderboard(rs))
    assert "host busy while timing 1 of 2 items" in text.splitlines()[0]
    rows = {line.split()[1]: line for line in text.splitlines() if line[:1].isdigit()}
    assert rows["b[ort]"].rstrip().endswith("! host busy") and "host busy" not in rows["a[ort]"]
    assert (
        "! host busy: other processes took the CPU while 1 item was timed (other processes used 1.4 of 2 CPUs" in text
    )
    md = exports.to_markdown(rs)
    assert "**host busy while timing 1 of 2 items**" in md and "| ! host busy; passed |" in md
    assert md.count("! host busy; ") == 1
    page = html.render({"run_id": "r"}, rs)
    assert page.count("! host busy</span>") == 1 and "host busy while timing 1 of 2 items" in page
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(exports.to_csv(rs)))}
    assert rows["s::b[ort]"]["host"] == BUSY and rows["s::a[ort]"]["host"] == ""


def test_a_quiet_host_says_nothing() -> None:
    quiet = _results()[:1]
    assert "host busy" not in "\n".join(terminal.leaderboard(quiet)) + exports.to_markdown(quiet) + html.render(
        {"run_id": "r"}, quiet
    )


def test_show_and_report_read_the_journal_a_default_run_writes(demo, linear_model, capsys, monkeypatch) -> None:
    from pathlib import Path

    from conftest import manifest
    from pytest_aibench.cli import main as aibench

    root = Path(demo.path)
    (root / "suite.yaml").write_text(manifest(linear_model[1]))
    demo.runpytest("--aibench", "suite.yaml").assert_outcomes(passed=1)  # no --aibench-json: the journal only
    assert not list(root.glob("*.json"))
    monkeypatch.chdir(root)
    assert aibench(["show"]) == 0
    shown = capsys.readouterr().out
    assert "linear[numpy-fp32-single]" in shown and "(?)" not in shown.splitlines()[0]  # the run's machine too
    (run_dir,) = (root / ".aibench" / "runs").iterdir()
    assert aibench(["report", str(run_dir), "--md", "r.md", "--benchmark-json", "pb.json"]) == 0
    assert "linear[numpy-fp32-single]" in (root / "r.md").read_text()
    assert json.loads((root / "pb.json").read_text())["benchmarks"][0]["name"] == "linear[numpy-fp32-single]"
    assert aibench(["show", str(run_dir / "journal.jsonl")]) == 0 and "linear" in capsys.readouterr().out


def test_a_failed_build_is_tried_once_per_session_and_named_by_every_item_after(tmp_path, monkeypatch) -> None:
    import pytest

    from pytest_aibench.builder import cache

    name = next(iter(cache.lock()["models"]))
    calls: list[str] = []

    def broken(n: str, root: object, progress: object) -> None:
        calls.append(n)
        raise RuntimeError("converter crashed: out of memory")

    monkeypatch.setattr(cache, "build", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        cache.ensure(name, root=tmp_path, session="run-1")
    for _ in range(3):  # the other items of the session: at once, naming the first failure
        with pytest.raises(cache.CardError, match="already failed in this session, not retried: converter crashed"):
            cache.ensure(name, root=tmp_path, session="run-1")
    assert calls == [name]
    with pytest.raises(RuntimeError):  # a new session tries again
        cache.ensure(name, root=tmp_path, session="run-2")
    assert calls == [name, name]

    def built(n: str, root, progress) -> None:
        (root / n).mkdir()
        (root / n / "card.json").write_text("{}")

    monkeypatch.setattr(cache, "build", built)
    cache.ensure(name, root=tmp_path, session="run-3")
    assert not (tmp_path / f".{name}.failed.json").exists()
