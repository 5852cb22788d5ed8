"""How long collecting a 10,000-item manifest takes (target: under 3 s on the 2-core CI machine).

Generates a manifest of 10 models × 2 frameworks × 5 quantizations × 1 paradigm × 100 shards = 10,000
items, with an exclude and two include rules (one adds a new combination, one a variable),
then times, in separate processes run alternately:
  * `pytest --co -q` of the manifest (what a user waits for), and
  * the same for a plain 10,000-item `@pytest.mark.parametrize` test file (pytest's own floor),
and prints the medians and their ratio. Usage: python benchmarks/collect_matrix.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MANIFEST = """\
suite: scale
version: "1.0"
datasets:
  digits: {source: digits}
models:
%(models)s
frameworks: [torch, onnxruntime]
quantizations: [fp32, fp16, bf16, int8, int8_dynamic]
paradigms: [single]
axes:
  shard: [%(shards)s]
matrix:
  exclude:
    - {model: m0, framework: torch, quantization: fp16, shard: 0}
  include:
    - {model: m0, framework: torch, quantization: fp16, paradigm: single, shard: 0}
    - {quantization: int8, calibration: train}
"""

PLAIN = """\
import pytest

@pytest.mark.parametrize("i", range(10000))
def test_x(i):
    pass
"""


def write(folder: Path) -> tuple[Path, Path]:
    models = "\n".join(f"  m{i}: {{zoo: tinycnn-digits}}" for i in range(10))
    manifest = folder / "suite.yaml"
    manifest.write_text(MANIFEST % {"models": models, "shards": ", ".join(str(s) for s in range(100))})
    plain = folder / "test_plain.py"
    plain.write_text(PLAIN)
    return manifest, plain


def timed(cmd: list[str], cwd: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    items = sum(1 for line in out.stdout.splitlines() if "::" in line)
    return dt, items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one round (CI runs it so; figures not asserted)")
    args = ap.parse_args()
    if args.quick:
        args.rounds = 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest, plain = write(folder)
        base = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
        ours, floor = [], []
        n_ours = n_floor = 0
        for _ in range(args.rounds):  # alternate, so a burst of machine noise hits both
            dt, n_ours = timed([*base, "--aibench", str(manifest)], folder)
            ours.append(dt)
            dt, n_floor = timed([*base, str(plain)], folder)
            floor.append(dt)
        m_ours, m_floor = statistics.median(ours), statistics.median(floor)
        print(f"items collected: manifest {n_ours}, plain parametrize {n_floor}")
        print(f"{'what':<38}{'median s':>10}{'min s':>8}{'max s':>8}")
        print(f"{'pytest --co --aibench (manifest)':<38}{m_ours:>10.2f}{min(ours):>8.2f}{max(ours):>8.2f}")
        print(f"{'pytest --co (plain parametrize)':<38}{m_floor:>10.2f}{min(floor):>8.2f}{max(floor):>8.2f}")
        print(
            f"ratio manifest / plain: {m_ours / m_floor:.2f}   target: manifest under 3 s -> "
            f"{'met' if m_ours < 3 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
