"""Where things are in a manifest: key paths, their lines, and located problems. A leaf without
YAML, so the manifest's data model (and what imports it: plans, artifacts) needs no parser."""

from __future__ import annotations

from dataclasses import dataclass, field

KeyPath = tuple  # tuple[str | int, ...]


@dataclass
class Problem:
    """One thing wrong with a document, located by line and key path."""

    line: int | None
    path: KeyPath
    message: str


@dataclass
class LineIndex:
    """Where each key path of a loaded document starts (1-based lines)."""

    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one."""
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]
