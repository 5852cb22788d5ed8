"""Run a model's variants on the AVX2 code paths of its runtime, whatever this CPU is: the other
machine kind this project's CI runs on is an AMD EPYC of the first generation (Zen 1: AVX2, FMA,
F16C; no AVX-512, no VNNI).

Runtimes pick their kernels by CPUID, so the same artifact runs other code on an AVX2-only CPU than
on an AVX-512/VNNI one. Two ways to run those paths here:

- torch caps its own dispatchers: ``ONEDNN_MAX_CPU_ISA=AVX2``, ``ATEN_CPU_CAPABILITY=avx2`` and
  ``MKL_ENABLE_INSTRUCTIONS=AVX2`` run the AVX2 kernels on the real CPU;
- ONNX Runtime (MLAS) and LiteRT (XNNPACK) have no such switch, so they run under
  ``qemu-x86_64 -cpu EPYC``: user-mode QEMU answers CPUID as a Zen 1 and executes the AVX2 paths
  (about 60x slower). Its figures for ORT's int8 kernels match those reported from a real Zen 1
  (tinycnn-digits 0.97996, resnet-shapes 0.789 before 7-bit weights). It is not used for torch:
  QEMU 7.2 mis-executes oneDNN's AVX2 brgemm RNN kernel (an LSTM's scores come out wrong under it,
  while the same kernel on the real CPU, capped to AVX2, is right).

The zoo build uses both to check what it ships; the tests use them to check the shipped files on
whatever CPU CI has. QEMU: ``apt-get install qemu-user`` (Debian/Ubuntu).

``python -m pytest_aibench.builder.isa_check probe JOB.json`` is the part that runs inside the emulator.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench.artifact import ModelArtifact
from pytest_aibench.core.model import InputSpec, Settings
from pytest_aibench.isa import isa_flags
from pytest_aibench.runtimes import RUNNERS
from pytest_aibench.sim.node import Node

#: the batch the build scores every variant at: dynamic quantization takes its activation ranges per
#: batch, so a dynamic-int8 variant's predictions depend on it and a check must batch the same way
BATCH = 128

#: the emulated CPU: Zen 1, the AVX2-only machine kind this project's CI also runs on
CPU_MODEL = "EPYC"
#: runtimes that can run their AVX2 kernels on this CPU when told to (the others run under QEMU)
CAPS = {"torch": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}
INSTALL_HINT = "install QEMU's user-mode emulator (Debian/Ubuntu: apt-get install qemu-user) to check other ISAs"


class EmulationError(RuntimeError):
    """The emulated run failed; the message holds its output."""


def emulator() -> str | None:
    """Path of ``qemu-x86_64`` when it can emulate this machine's architecture, else None."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    return shutil.which("qemu-x86_64")


def emulator_version() -> str | None:
    """``qemu-x86_64 version 7.2.x``: recorded with what it checked."""
    qemu = emulator()
    if qemu is None:
        return None
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.splitlines() or [""])[0].strip() or None


@dataclass(frozen=True)
class Variant:
    """One artifact to run: what the project's runners need to prepare it."""

    key: str  # "framework/quantization"
    path: str
    format: str
    family: str | None
    config: dict[str, Any]
    input: dict[str, Any]


def variants_of(card: dict[str, Any], folder: Path, keys: list[str] | None = None) -> list[Variant]:
    arts = card.get("artifacts", {})
    return [
        Variant(
            k, str(folder / a["file"]), a["format"], card.get("family"), card.get("config", {}), card.get("input", {})
        )
        for k, a in arts.items()
        if keys is None or k in keys
    ]


def predict(variants: list[Variant], x: np.ndarray, threads: int = 1, batch: int = BATCH) -> dict[str, np.ndarray]:
    """Class scores of each variant on ``x`` through the suites' own runners (here, natively)."""

    out = {}
    for v in variants:
        framework, quantization = v.key.split("/")
        spec = v.input
        shape = list(spec.get("shape", ()))
        if spec.get("resizable") and len(shape) == 4:  # global pooling: any height and width
            shape[2] = shape[3] = None
        input_spec = InputSpec(
            shape=tuple(shape),
            name=spec.get("name", "input"),
            layout=spec.get("layout", "NCHW"),
            dtype=spec.get("dtype", "float32"),
        )
        artifact = ModelArtifact(
            Path(v.path).parent.name,
            framework,
            quantization,
            quantization,
            v.format,
            Path(v.path),
            None,
            input_spec,
            v.family,
            v.config,
        )
        session = RUNNERS.get(framework).prepare(artifact, Node(threads=threads), Settings())
        try:
            xa = session.adapt(x)
            out[v.key] = np.concatenate([session.infer(xa[i : i + batch]) for i in range(0, len(xa), batch)])
        finally:
            session.close()
    return out


def avx2(variants: list[Variant], x: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, str], list[str] | None]:
    """Each variant's scores on its runtime's AVX2 code paths (capped where the runtime can be told,
    else emulated), how each was run, and the ISA the emulated process saw (None: no emulation)."""
    capped = [v for v in variants if v.key.split("/")[0] in CAPS]
    emulated = [v for v in variants if v not in capped]
    scores: dict[str, np.ndarray] = {}
    how: dict[str, str] = {}
    for framework in sorted({v.key.split("/")[0] for v in capped}):
        env = CAPS[framework]
        group = [v for v in capped if v.key.startswith(framework + "/")]
        scores.update(_run([(group, x)], [], env)[0][0])
        how.update(
            {
                v.key: "this CPU, kernels capped to AVX2 (" + " ".join(f"{k}={e}" for k, e in env.items()) + ")"
                for v in group
            }
        )
    isa = None
    if emulated and emulator() is not None:
        got, isa = run_emulated(emulated, x)
        scores.update(got)
        how.update({v.key: f"qemu-x86_64 -cpu {CPU_MODEL} (AMD EPYC Zen 1, emulated)" for v in emulated})
    return scores, how, isa


def run_emulated(
    variants: list[Variant], x: np.ndarray, timeout: float = 3600
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The same as :func:`predict`, inside ``qemu-x86_64 -cpu EPYC``: the scores and the ISA flags the
    emulated process saw (checked to be AVX2 without AVX-512, so a silent fallback cannot pass)."""
    results, isa = run_emulated_many([(variants, x)], timeout)
    return results[0], isa


def run_emulated_many(
    jobs: list[tuple[list[Variant], np.ndarray]], timeout: float = 3600
) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    """Several (variants, inputs) jobs in one emulated process (it starts slowly: imports run ~60x
    slower): each job's scores, and the ISA flags the emulated process saw."""
    qemu = emulator()
    if qemu is None:
        raise EmulationError(f"qemu-x86_64 not found: {INSTALL_HINT}")
    results, isa = _run(jobs, [qemu, "-cpu", CPU_MODEL], {}, timeout)
    if "avx2" not in isa or "avx512f" in isa:
        raise EmulationError(f"the emulated CPU reported ISA {isa}, not AVX2 without AVX-512")
    return results, isa


def _run(
    jobs: list[tuple[list[Variant], np.ndarray]], prefix: list[str], env_extra: dict[str, str], timeout: float = 3600
) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    """The probe in a fresh interpreter (``prefix``: the emulator, or nothing), with ``env_extra``."""
    with tempfile.TemporaryDirectory(prefix="aibench-isa-") as tmp:
        spec = []
        for i, (variants, x) in enumerate(jobs):
            np.save(Path(tmp) / f"x{i}.npy", np.ascontiguousarray(x))
            spec.append(
                {
                    "variants": [v.__dict__ for v in variants],
                    "x": str(Path(tmp) / f"x{i}.npy"),
                    "out": str(Path(tmp) / f"scores{i}.npz"),
                }
            )
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"jobs": spec, "isa": str(Path(tmp) / "isa.json")}))
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", **env_extra}
        cmd = [*prefix, sys.executable, "-m", "pytest_aibench.builder.isa_check", "probe", str(job)]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(Path(__file__).resolve().parents[2])
        )
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "TCG doesn't support" not in ln]
            raise EmulationError(f"AVX2 run failed (exit {proc.returncode}):\n" + "\n".join(lines[-15:]))
        isa = json.loads((Path(tmp) / "isa.json").read_text())["isa"]
        results = []
        for s in spec:
            with np.load(str(s["out"]), allow_pickle=False) as z:
                results.append({k.replace("__", "/"): z[k] for k in z.files})
    return results, isa


def _probe(job_path: str) -> int:
    """Inside the emulator: run each job's variants on its inputs, write their scores and the ISA this
    process saw."""

    job = json.loads(Path(job_path).read_text())
    if "jobs" not in job:  # the one-job form
        job = {"jobs": [job], "isa": str(Path(job["out"]).with_suffix(".json"))}
    for spec in job["jobs"]:
        x = np.load(spec["x"], allow_pickle=False)
        scores = predict([Variant(**v) for v in spec["variants"]], x)
        np.savez(spec["out"], **{k.replace("/", "__"): v for k, v in scores.items()})  # type: ignore[arg-type]
    Path(job["isa"]).write_text(json.dumps({"isa": list(isa_flags())}))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "probe":
        return _probe(args[1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
