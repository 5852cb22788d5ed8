"""Procedural click logs in Criteo's shape (click-through prediction, DLRM's task).

A row is 13 integer count features and 26 categorical ids, as Criteo's display-advertising logs have
them. Counts are log-normal; ids follow a Zipf law within each table's cardinality (a few values are
most of the traffic, as in real logs). Whether a row was clicked is drawn from a hidden logistic
model: a weight per (table, id) for the first ``per_table`` ids of each table (the head of the Zipf
law, where almost all rows fall), a linear term in the log counts, and one pairwise interaction between
two tables, so the truth is exact, needs embeddings to learn, and has the feature-crossing DLRM's dot
products exist for. A pure function of the seed.
"""

from __future__ import annotations

import numpy as np

DENSE = 13
#: the Criteo Kaggle display-advertising set's 26 categorical cardinalities (DLRM's reference loader)
CRITEO_KAGGLE = (
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
)  # fmt: skip


def tables(rows: int) -> tuple[int, ...]:
    """26 cardinalities: Criteo Kaggle's (``rows`` 0), else each capped at ``rows`` (a compact model's)."""
    if rows < 0:
        raise ValueError(f"rows must be 0 (Criteo Kaggle's tables) or a positive cap, got {rows}")
    return CRITEO_KAGGLE if rows == 0 else tuple(min(c, rows) for c in CRITEO_KAGGLE)


def generate(seed: int, count: int, rows: int, ctr: float = 0.25, per_table: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """x (count, 13 + 26) float32 (log1p counts, then ids) and y (count,) clicks (0/1)."""
    if count < 2 or not 0.01 <= ctr <= 0.9:
        raise ValueError(f"need samples >= 2 and ctr within 0.01..0.9, got {count}, {ctr}")
    cards = np.array(tables(rows))
    r = np.random.default_rng([seed, 11])
    dense = np.log1p(np.floor(r.lognormal(1.0, 1.2, (count, DENSE))))
    ids = (r.zipf(1.3, (count, len(cards))) - 1) % cards
    hidden = np.random.default_rng([seed, 12])
    w_id = hidden.standard_normal((len(cards), per_table)) * 0.9
    w_dense = hidden.standard_normal(DENSE) * 0.3
    head = np.minimum(ids, per_table - 1)  # ids past the head share one weight: the long tail
    logit = w_id[np.arange(len(cards)), head].sum(1) + (dense - dense.mean(0)) @ w_dense
    logit += 1.2 * (ids[:, 0] % 4 == ids[:, 1] % 4)  # a cross of two tables no single weight holds
    logit -= np.quantile(logit, 1 - ctr)  # the requested click rate, exactly at threshold 0
    y = (logit + r.logistic(size=count) * 0.5 > 0).astype(np.int64)
    return np.concatenate([dense, ids], 1).astype(np.float32), y
