"""What fraction of this machine's best fp32 GEMM rate torch and ONNX Runtime reach on the micro
suite's kernels (fp32), next to numpy: runs ``pytest --aibench suites/micro`` for fp32 items and prints
one row per kernel. Usage: python benchmarks/kernel_fractions.py [--profile quick|full]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--quick", action="store_true", help="the GEMM kernels only (CI runs it so)")
    args = ap.parse_args()
    only = "fp32 and gemm" if args.quick else "fp32"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "micro.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--aibench",
                "suites/micro",
                "-q",
                "-p",
                "no:cacheprovider",
                "-k",
                only,
                "--aibench-profile",
                args.profile,
                "--aibench-json",
                str(out),
                "--aibench-out",
                str(Path(tmp) / "o"),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        items = json.loads(out.read_text())["items"]
    table: dict[str, dict[str, float]] = {}
    peak = 0.0
    for i in items:
        k = i["metrics"].get("kernel", {})
        if i["outcome"] == "passed" and k:
            table.setdefault(i["model"], {})[i["axes"]["framework"]] = k["fraction_of_peak"]
            peak = k["peak_gflops"]
    print(f"best fp32 GEMM here (numpy/torch, 1024^3): {peak:.1f} GFLOP/s; fraction of it reached, fp32:")
    print(f"{'kernel':<20}{'numpy':>8}{'torch':>8}{'onnxruntime':>13}")
    for model, row in table.items():
        print(
            f"{model:<20}"
            + "".join(
                f"{row.get(f, float('nan')):>{w}.2f}" for f, w in (("numpy", 8), ("torch", 8), ("onnxruntime", 13))
            )
        )
    for fw in ("torch", "onnxruntime"):
        vals = sorted(r[fw] for r in table.values() if fw in r)
        print(f"{fw}: median {vals[len(vals) // 2]:.2f} of peak over {len(vals)} kernels")


if __name__ == "__main__":
    main()
