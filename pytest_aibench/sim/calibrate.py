"""The host's sustained GFLOP/s under a thread cap, measured once per process (a float32 GEMM), to
scale measured host times to a node's: node time ~ host time x host GFLOP/s / node GFLOP/s."""

from __future__ import annotations

import contextlib
import time
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from pytest_aibench._lazy import lazy

if TYPE_CHECKING:
    import threadpoolctl
else:
    threadpoolctl = lazy("threadpoolctl")


@lru_cache(maxsize=8)
def host_gflops(threads: int = 1, n: int = 256, repeats: int = 20) -> float:

    try:
        limit = threadpoolctl.threadpool_limits(limits=threads)
    except ImportError:  # numpy's BLAS then uses its own thread count
        limit = contextlib.nullcontext()
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    with limit:
        a @ b
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9
