"""Reading and writing run documents (``--aibench-json``) on the ground floor: a baseline, a journal or a
comparison reads them without the report layer."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pytest_aibench.core.result import Result


def write_atomic(path: Path, doc: Any) -> None:
    """Write JSON next to ``path`` and rename over it: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: Path) -> tuple[dict[str, Any], list[Result]]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    results = [Result.from_dict(i) for i in doc.get("items", [])]
    cpu = (doc.get("machine") or {}).get("cpu") or {}
    if isinstance(cpu, dict) and cpu.get("isa"):  # items written before results carried their machine
        for r in results:
            if not r.machine:
                r.machine = {"cpu": cpu.get("model"), "isa": cpu["isa"], "isa_level": cpu.get("isa_level")}
    return doc, results
