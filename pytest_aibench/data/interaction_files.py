"""``source: ratings_csv``: your user-item interactions as CSV (MovieLens's ``ratings.csv`` layout:
``userId,movieId,rating,timestamp``, a header line first), for recommendation by NCF's protocol.

As NCF's own preprocessing does: user and item ids are renumbered 0.. in order of first appearance
(sorted), each user's latest interaction (by timestamp, then by line) is held out, and it is ranked
against ``negatives`` items that user never touched, drawn with a seeded generator; the sample is
that list of (user id, item id) rows in a seeded order, its truth the real item's position. Users with
fewer than ``min_interactions`` are left out (they have nothing to learn from), as NCF does.
Every problem is one error naming the file, the line and the column.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError
from pytest_aibench.data.sources import _int_params
from pytest_aibench.data.targets import Targets

COLUMNS = ("userId", "movieId", "timestamp")


def read_ratings(path: Path) -> list[tuple[str, str, float]]:
    """(user, item, timestamp) per data line, in file order."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; expected a CSV with a header line holding {', '.join(COLUMNS)}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(
                f"{path}:1: header {reader.fieldnames} lacks {', '.join(missing)}; expected MovieLens's "
                "ratings.csv columns userId,movieId,rating,timestamp"
            )
        rows = []
        for row in reader:
            no = reader.line_num
            if not row["userId"] or not row["movieId"]:
                raise DatasetError(f"{path}:{no}: empty userId or movieId; every line needs both")
            try:
                ts = float(row["timestamp"])
            except (TypeError, ValueError):
                raise DatasetError(
                    f"{path}:{no}: column 'timestamp' is {row['timestamp']!r}; expected a number (seconds)"
                ) from None
            rows.append((row["userId"], row["movieId"], ts))
    return rows


class RatingsCsvSource:
    """``path:`` a ratings CSV; ``params: {negatives, min_interactions, seed}``."""

    needs_path = True

    def load(self, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        p = _int_params(spec, {"negatives": 99, "min_interactions": 2, "seed": 0})
        path = Path(str(spec.path))
        rows = read_ratings(path)
        users = {u: i for i, u in enumerate(sorted({r[0] for r in rows}, key=_natural))}
        items = {m: i for i, m in enumerate(sorted({r[1] for r in rows}, key=_natural))}
        by_user: dict[int, list[tuple[float, int, int]]] = {}
        for line, (uid, m, ts) in enumerate(rows):
            by_user.setdefault(users[uid], []).append((ts, line, items[m]))
        kept = sorted(u for u, seen in by_user.items() if len(seen) >= p["min_interactions"])
        if len(kept) < 2:
            raise DatasetError(
                f"{path}: {len(kept)} users with at least {p['min_interactions']} interactions; expected 2 or more "
                "(lower params.min_interactions?)"
            )
        if len(items) < p["negatives"] + 2:
            raise DatasetError(
                f"{path}: {len(items)} items cannot give {p['negatives']} negatives per user; lower params.negatives"
            )
        x = np.empty((len(kept), p["negatives"] + 1, 2), np.float32)
        pos = np.empty(len(kept), np.int64)
        for i, user in enumerate(kept):
            u = int(user)
            seen = by_user[u]
            held = max(seen)[2]  # the latest interaction (ties: the later line)
            unseen = np.setdiff1d(np.arange(len(items)), [m for _, _, m in seen])
            r = np.random.default_rng([p["seed"], u])
            if len(unseen) < p["negatives"]:
                raise DatasetError(
                    f"{path}: user {u} touched all but {len(unseen)} items; lower params.negatives below that"
                )
            cands = np.concatenate([[held], r.choice(unseen, p["negatives"], replace=False)])
            order = r.permutation(len(cands))
            x[i, :, 0], x[i, :, 1] = u, cands[order]
            pos[i] = int(np.flatnonzero(order == 0)[0])
        truth = Targets(size=(0, 0), labels=pos)
        meta = {"layout": "NTC", "generator": "ratings_csv", "num_classes": 1, "targets": truth}
        return (
            x,
            np.arange(len(x), dtype=np.int64),
            meta
            | {
                "task": "recommendation",
                "users": len(users),
                "items": len(items),
            }
            | p,
        )


def _natural(key: str) -> tuple[int, Any]:
    """Numeric ids in numeric order (MovieLens's), anything else after them as text."""
    return (0, int(key)) if key.isdigit() else (1, key)
