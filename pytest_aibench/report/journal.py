"""The run journal: one JSON line per finished item, flushed and fsynced as it lands, so a crash
or Ctrl-C keeps everything measured so far."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, path: Path, header: dict[str, Any], kind: str = "header"):
        """Open for appending; ``kind`` "resume" marks a continued run (its first header stays)."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = path.is_file() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
        self._f = open(path, "a", encoding="utf-8")
        if torn:  # a crash mid-line: end that line, so this record is not glued onto it
            self._f.write("\n")
        self.write({"type": kind, **header})

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self, footer: dict[str, Any]) -> None:
        if not self._f.closed:
            self.write({"type": "footer", **footer})
            self._f.close()


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    """Header, item records and footer (None when the run was interrupted); a torn last line is skipped."""
    header: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    footer = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        kind = rec.pop("type", None)
        if kind == "header" and not header:
            header = rec
        elif kind == "item":
            items.append(rec)
        elif kind == "footer":
            footer = rec
    return header, items, footer
