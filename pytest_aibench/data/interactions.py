"""Procedural user-item interactions with known preferences (recommendation, NCF's protocol).

Users and items have hidden taste vectors and items a popularity; a user's interactions are drawn
without replacement from the softmax of (taste . item + popularity) / temperature, so who likes what
is exact and learnable from co-occurrence alone, as in MovieLens. A sample is one held-out
interaction with ``negatives`` items the user never touched (NCF's 99 sampled negatives), as
(user id, item id) rows in a shuffled order; its truth is the position of the real item. The
seeded split then holds out whole interactions: a model ranks items it saw the user with only
through other interactions. A pure function of the seed.
"""

from __future__ import annotations

import numpy as np


def preferences(seed: int, users: int, items: int, dims: int = 8) -> np.ndarray:
    """(users, items) affinity: taste . item + popularity (the hidden truth the interactions come from)."""
    r = np.random.default_rng([seed, 101])
    taste = r.standard_normal((users, dims)) / np.sqrt(dims)
    item = r.standard_normal((items, dims))
    popularity = 0.8 * r.standard_normal(items)
    return taste @ item.T + popularity


def generate(
    seed: int, count: int, users: int, items: int, per_user: int, negatives: int, temperature: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` candidate lists: x (count, 1 + negatives, 2) float32 (user id, item id) and the
    position of each list's real interaction."""
    if users < 1 or items < negatives + per_user + 1:
        raise ValueError(f"need items >= negatives + per_user + 1 ({negatives + per_user + 1}), got {items}")
    if count > users * per_user:
        raise ValueError(f"samples ({count}) exceeds users * per_user ({users * per_user})")
    affinity = preferences(seed, users, items) / temperature
    r = np.random.default_rng([seed, 202])
    seen = np.empty((users, per_user), np.int64)
    for u in range(users):  # without replacement, by Gumbel top-k of the user's softmax
        seen[u] = np.argsort(-(affinity[u] + r.gumbel(size=items)), kind="stable")[:per_user]
    x = np.empty((count, negatives + 1, 2), np.float32)
    pos = np.empty(count, np.int64)
    for i in range(count):
        u, k = i % users, i // users
        rs = np.random.default_rng([seed, 303, i])
        unseen = np.setdiff1d(np.arange(items), seen[u], assume_unique=True)
        cands = np.concatenate([[seen[u, k]], rs.choice(unseen, negatives, replace=False)])
        order = rs.permutation(negatives + 1)
        x[i, :, 0], x[i, :, 1] = u, cands[order]
        pos[i] = int(np.flatnonzero(order == 0)[0])
    return x, pos
