"""What collecting a manifest costs: a manifest known valid skips the schema pass (and jsonschema's
import), --collect-only leaves the result controller unimported, and the matrix pauses the cycle
collector only while it allocates. benchmarks/collect_matrix.py measures the cost; these check the
behaviour behind it."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from conftest import manifest


def _co(p: pytest.Pytester) -> tuple[pytest.RunResult, set[str]]:
    result = p.run(sys.executable, "-X", "importtime", "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider",
                   "--aibench", "suite.yaml")  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.lines if "|" in line}
    return result, imported


@pytest.mark.slow
def test_a_manifest_validated_clean_is_not_validated_again_and_a_bad_one_always_is(demo, linear_model, monkeypatch):
    cache = Path(demo.path) / "cache"
    monkeypatch.setenv("AIBENCH_CACHE", str(cache))
    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    first, imported_first = _co(demo)
    assert first.ret == 0, first.stdout.str()
    assert "jsonschema.validators" in imported_first
    verdicts = list((cache / "schema-valid").iterdir())
    assert len(verdicts) == 1

    again, imported_again = _co(demo)
    assert again.ret == 0
    assert not any(n.startswith("jsonschema") for n in imported_again)  # the clean verdict stands for these exact bytes
    assert "pytest_aibench.controller" not in imported_again  # --co: nothing to gather or write
    assert [line for line in again.stdout.lines if "::" in line] == [
        line for line in first.stdout.lines if "::" in line
    ]

    bad = manifest(linear_model[1]).replace("latency_samples: 20", 'latency_samples: "many"')
    (Path(demo.path) / "suite.yaml").write_text(bad)
    for _ in range(2):  # a problem is found every time: only clean verdicts are remembered
        result, imported = _co(demo)
        assert result.ret != 0
        assert "jsonschema.validators" in imported
        result.stderr.fnmatch_lines(["*suite.yaml:*settings.latency_samples: expected an integer*"])
    assert list((cache / "schema-valid").iterdir()) == verdicts


def test_the_cycle_collector_is_paused_only_inside_and_restored_as_it_was():
    from pytest_aibench.heap import no_gc

    assert gc.isenabled()
    with no_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), no_gc():
        raise RuntimeError("restored on the way out of an error too")
    assert gc.isenabled()
    gc.disable()
    try:
        with no_gc():
            pass
        assert not gc.isenabled()  # a caller who had it off keeps it off
    finally:
        gc.enable()


def test_the_collected_heap_is_frozen_once_and_thawed_by_the_next_session(demo, linear_model):
    from pytest_aibench import heap

    (Path(demo.path) / "suite.yaml").write_text(manifest(linear_model[1]))
    heap.thaw()
    assert gc.get_freeze_count() == 0
    try:
        items, _ = demo.inline_genitems("--aibench", "suite.yaml")
        assert len(items) == 1
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the session's collected objects (and this process's) left the walks
        demo.inline_genitems("--co")  # a later session, without a manifest: it thaws and freezes nothing
        assert gc.get_freeze_count() == 0
    finally:
        heap.thaw()


def test_a_heap_someone_else_froze_is_left_as_it_is():
    from pytest_aibench import heap

    heap.thaw()
    sentinel = [object()]  # a container the collector tracks, frozen with the rest
    gc.freeze()
    try:
        assert not heap.freeze_collected()
        heap.thaw()
        # still frozen: not in any generation the collector walks (the freeze count itself can drop
        # meanwhile, as frozen objects are freed by reference counting)
        assert gc.get_freeze_count() > 0
        assert not any(o is sentinel for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert heap.freeze_collected()
    heap.thaw()
    assert gc.get_freeze_count() == 0
