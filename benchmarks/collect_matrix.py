"""What collecting a 10,000-item manifest costs beside plain ``parametrize`` (goal: CPU <= 1.10x).

Generates a manifest of 10 models × 2 frameworks × 5 quantizations × 1 paradigm × 100 shards = 10,000
items, with an exclude and two include rules (one adds a new combination, one a variable),
then measures, in separate processes run alternately (so a burst of machine noise hits all):
  * `pytest --co -q` of the manifest (what a user waits for),
  * the same for a plain 10,000-item `@pytest.mark.parametrize` test file (pytest's own floor), and
  * the plain file again with the heap frozen after collection as the plugin does (pytest_aibench.heap):
    the freeze saves pytest's own garbage-collector passes too, so this like-for-like floor shows what
    the plugin itself adds,
each process's CPU time (user + system) and wall time, and prints the medians and the median of the
rounds' CPU ratios. The package's bytecode is compiled first, as a wheel install does: an editable
install under PYTHONDONTWRITEBYTECODE=1 would otherwise compile ~80 modules from source each run,
which no installed user pays. Usage: python benchmarks/collect_matrix.py [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
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


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, items collected) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    items = sum(1 for line in out.stdout.splitlines() if "::" in line)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return cpu, dt, items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="three pairs (CI runs it so; figures not asserted)")
    args = ap.parse_args()
    if args.quick:
        args.rounds = 3
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "pytest_aibench"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest, plain = write(folder)
        (folder / "freeze_like_aibench.py").write_text(FREEZE)
        base = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
        timed([*base, "--aibench", str(manifest)], folder)  # once untimed: the schema verdict, OS caches
        # hypothesis' plugin imports all of hypothesis at every session's end (~1.5 s of CPU here), which
        # dilutes the ratio; a user without it does not pay that, so the strict figure leaves it out
        for label, extra in (("as installed", []), ("without hypothesis' plugin", ["-p", "no:hypothesispytest"])):
            compare(label, [*base, *extra], manifest, plain, folder, args.rounds)


#: the plain file given what the plugin does after collecting a manifest (pytest_aibench.heap): the
#: like-for-like floor, so that what the plugin adds is not hidden by what its freeze saves pytest
FREEZE = """\
import pytest

from pytest_aibench import heap


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    heap.freeze_collected()
"""


def compare(label: str, base: list[str], manifest: Path, plain: Path, folder: Path, rounds: int) -> None:
    runs: dict[str, list[tuple[float, float]]] = {}
    cmds = {
        "pytest --co --aibench (manifest)": [*base, "--aibench", str(manifest)],
        "pytest --co (plain parametrize)": [*base, str(plain)],
        "... plain, heap frozen the same way": [*base, "-p", "freeze_like_aibench", str(plain)],
    }
    counts = {}
    for _ in range(rounds):  # alternate, so a burst of machine noise hits all three
        for name, cmd in cmds.items():
            cpu, wall, counts[name] = timed(cmd, folder)
            runs.setdefault(name, []).append((cpu, wall))
    print(f"{label}: items collected {sorted(set(counts.values()))}; {rounds} alternated rounds")
    print(f"    {'what':<38}{'CPU s':>8}{'min':>7}{'max':>7}{'wall s':>8}")
    for name, rs in runs.items():
        cpus = [c for c, _ in rs]
        print(
            f"    {name:<38}{statistics.median(cpus):>8.2f}{min(cpus):>7.2f}{max(cpus):>7.2f}"
            f"{statistics.median(w for _, w in rs):>8.2f}"
        )
    ours, floor, like = runs.values()
    for what, other in (("plain", floor), ("plain frozen alike", like)):
        ratios = sorted(o[0] / f[0] for o, f in zip(ours, other, strict=True))
        print(
            f"    CPU ratio manifest / {what}, median of rounds: {statistics.median(ratios):.3f} "
            f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}); goal <= 1.10"
        )


if __name__ == "__main__":
    main()
