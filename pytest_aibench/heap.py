"""The heap a manifest's collection leaves behind, frozen out of the cycle collector's sight.

Collecting 10,000 items leaves ~200,000 long-lived objects (items, cases, marks, modules); every full
collection after that walks all of them: pytest's own passes at the end of the session, the one before
each item's timed calls, and the interpreter's at exit. Measured on a 2-core VM, that walking was a
fifth of ``pytest --co`` of such a manifest. ``gc.freeze()`` (what CPython documents for long-lived,
pre-fork heaps) moves them to a permanent generation after one last full collection, so the cyclic
garbage that existed is freed first, and the collector then only looks at what the run allocates.

What stays frozen is what was alive when collection finished; it is handed back to the collector when
the next pytest session in the same process starts (pytester, repeated ``pytest.main``), so at most one
session's collected objects are held past their use. A heap someone else froze is left as it is.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_OURS = {"frozen": False}


def freeze_collected() -> bool:
    """Collect once, then freeze what is alive; False (and nothing done) where the heap is already frozen."""
    if _OURS["frozen"] or gc.get_freeze_count():
        return False
    gc.collect()
    gc.freeze()
    _OURS["frozen"] = True
    return True


def thaw() -> None:
    """Hand what this module froze back to the collector (an earlier session's items become collectable)."""
    if _OURS["frozen"]:
        gc.unfreeze()
        _OURS["frozen"] = False


@contextmanager
def no_gc() -> Iterator[None]:
    """The cycle collector paused while a 10,000-item matrix is expanded and collected (half of expand's
    time otherwise, each collection walking every object pytest and the runtimes have made); restored
    as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
