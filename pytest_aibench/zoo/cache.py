"""Published-size zoo models (:mod:`pytest_aibench.zoo.published`) as the zoo reads them: the committed
lock and the cached cards (:mod:`pytest_aibench.builder.cache` builds them).

They are too large to commit (ResNet50's variants are ~250 MB) and nothing may be downloaded, so the
first item that needs one builds it here: seeded weights, then every variant whose converter is
installed, into ``$AIBENCH_CACHE/models/<name>/`` (default ``~/.cache/pytest-aibench``). A file lock
makes concurrent builders (xdist workers, two sessions) wait for one build. The committed lock file,
``fixtures/models/published.lock.json``, pins each variant's sha256 where the bytes follow from the
seed alone: a build that differs is refused, naming the tools it was built with and those the lock was.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pytest_aibench.errors import CardError
from pytest_aibench.files import cache_root, shipped

LOCK = "models/published.lock.json"


@lru_cache(maxsize=1)
def lock() -> dict[str, Any]:
    """The committed lock: per model its seed, input side, counted size and pinned sha256s."""
    try:
        return json.loads(shipped(LOCK).read_text())
    except FileNotFoundError:
        return {"models": {}}


def is_published(name: str | None) -> bool:
    return bool(name) and name in lock()["models"]


def cached_card(name: str, root: Path | None = None) -> Path | None:
    """The card of an already built ``name`` in the cache, or None."""
    path = (root or cache_root()) / name / "card.json"
    return path if path.is_file() else None


def check_pinned(name: str, artifacts: dict[str, dict[str, Any]], where: Path) -> None:
    """A cached card's pinned variants must be the lock's bytes: a card edited to match a swapped file
    still disagrees with the lock, which the project commits and the cache cannot change."""
    pinned = lock()["models"].get(name, {}).get("sha256", {})
    bad = [k for k, sha in pinned.items() if k in artifacts and artifacts[k].get("sha256") != sha]
    if bad:
        raise CardError(
            f"cached published model {name!r} at {where}: {', '.join(bad)} differ from the sha256 pinned in "
            f"{shipped(LOCK)} ({', '.join(pinned[k][:16] for k in bad)}…); the cache was altered or built by "
            f"other tools: delete {where} and it is rebuilt on first use"
        )
