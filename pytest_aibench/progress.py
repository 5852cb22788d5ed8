"""Progress of long phases (training, exporting, LoadGen runs), polite to the terminal.

On a terminal, ``update`` redraws one status line in place; without one (CI logs), only ``note``
milestones are written, one per line; quiet mode writes nothing. Inside pytest, progress goes through
the terminal reporter and only at ``-v`` or more (``-q`` is quiet, and xdist workers stay silent).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False, tty: bool | None = None, prefix: str = ""):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() if tty is None else tty
        self.prefix = prefix
        self._open = False

    def update(self, text: str) -> None:
        """A transient status (redrawn in place on a terminal; dropped elsewhere)."""
        if self.quiet or not self.tty:
            return
        self.stream.write("\r\x1b[K" + self.prefix + text)
        self.stream.flush()
        self._open = True

    def note(self, text: str) -> None:
        """A milestone, kept in the log."""
        if self.quiet:
            return
        if self._open:
            self.stream.write("\r\x1b[K")
            self._open = False
        self.stream.write(self.prefix + text + "\n")
        self.stream.flush()


class _ReporterProgress(Progress):
    def __init__(self, reporter: Any, prefix: str):
        super().__init__(sys.stderr, quiet=False, tty=False, prefix=prefix)
        self._tr = reporter

    def note(self, text: str) -> None:
        self._tr.write_line(self.prefix + text)


def for_item(config: Any, label: str) -> Progress:
    """Progress for one pytest item: milestones at -v and above, in the controller's terminal only."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or hasattr(config, "workerinput") or config.get_verbosity() < 1:
        return Progress(quiet=True)
    return _ReporterProgress(reporter, f"    [{label}] ")


class _LiveProgress(Progress):
    """Writes to the real terminal with pytest's capture suspended, so a bar can redraw during setup."""

    def __init__(self, capman: Any, reporter: Any, prefix: str):
        super().__init__(sys.stderr, quiet=False, tty=sys.stderr.isatty(), prefix=prefix)
        self._capman, self._tr = capman, reporter

    def update(self, text: str) -> None:
        with self._capman.global_and_fixture_disabled():
            self.tty = sys.stderr.isatty()
            self.stream = sys.stderr
            super().update(text)

    def note(self, text: str) -> None:
        with self._capman.global_and_fixture_disabled():
            if self.tty and self._open:
                super().note(text)
            else:
                self._tr.write_line(self.prefix + text)


def for_build(config: Any, label: str) -> Progress:
    """Progress of a build during setup (a published model on first use): a redrawn bar on a terminal,
    milestones otherwise; silent at -q and on xdist workers (the controller's terminal is not theirs)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capman is None or hasattr(config, "workerinput") or config.get_verbosity() < 0:
        return Progress(quiet=True)
    return _LiveProgress(capman, reporter, f"[{label}] ")
