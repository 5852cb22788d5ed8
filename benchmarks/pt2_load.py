"""Loading the shipped int8 torch.export programs: torch.export.load against the torch runner's load
(the same call with sympy's parsing and typing's type hints memoised while it runs), interleaved in one
process so a slow spell of the machine hits both; the median of each side and their ratio per model.

Each item that runs a torch int8 model pays one such load at setup (suites/aiot: six of them).

Usage: python benchmarks/pt2_load.py [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pytest_aibench.runtimes.torch_runner import load_exported

MODELS = Path(__file__).resolve().parent.parent / "fixtures" / "models"
AIOT = ("resnet", "inception", "densenet", "squeezenet", "mobilenetv2", "mnasnet")


def _seconds(load: Callable[[str], Any], path: Path) -> float:
    start = time.perf_counter()
    load(str(path))
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one round, two models (CI runs it so; not asserted)")
    args = ap.parse_args()
    rounds, models = (1, AIOT[:2]) if args.quick else (args.rounds, AIOT)
    flags = [f for f in ("avx2", "avx512f", "avx512_vnni") if f in Path("/proc/cpuinfo").read_text()]
    print(f"torch {torch.__version__}; CPU flags {' '.join(flags) or 'none of avx2/avx512'}")
    load_exported(str(MODELS / "tinycnn-digits" / "model.int8.pt2"))  # imports and registrations, untimed
    total = [0.0, 0.0]
    print(f"{'model':<14}{'torch.export.load':>18}{'memoised':>10}{'ratio':>8}")
    for name in models:
        path = MODELS / f"{name}-shapes" / "model.int8.pt2"
        plain: list[float] = []
        memo: list[float] = []
        for r in range(rounds):  # alternate which side goes first
            sides = [(plain, torch.export.load), (memo, load_exported)]
            for kept, load in sides if r % 2 == 0 else sides[::-1]:
                kept.append(_seconds(load, path))
        p, m = statistics.median(plain), statistics.median(memo)
        total[0] += p
        total[1] += m
        print(f"{name:<14}{p:>17.2f}s{m:>9.2f}s{m / p:>8.2f}")
    print(f"{'all':<14}{total[0]:>17.2f}s{total[1]:>9.2f}s{total[1] / total[0]:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
