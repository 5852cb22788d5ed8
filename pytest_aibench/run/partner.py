"""The reference side in another interpreter (``--aibench-against-python PATH``): e.g. a virtual
environment with the previous onnxruntime or torch, to gate a runtime upgrade.

The partner is started with ``PATH -u partner.py JOB`` (this file, run as a script with this
package on its path), prepares the reference model with the same runner and settings, answers a
prediction request, then times one call per request: turns alternate over a pipe, so the two
processes never run at once, and both are pinned to the same CPUs while timing. It reports its own
environment (Python, numpy, the runtime's version), which the result records.

Protocol (the partner's stdin/stdout): ``P`` -> predictions written to the job's file, ``b"ok"``;
``T`` + 4-byte input index -> 8-byte nanoseconds of one timed call; ``W`` + 4-byte count -> that
many untimed calls; ``Q`` -> exit.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pickle
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench.runtimes import packages

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.model import Settings
    from pytest_aibench.run.plan import Plan


class PartnerError(RuntimeError):
    """The partner interpreter could not start or answer; the message holds what it printed."""


class Partner:
    """The parent's handle on the partner process."""

    def __init__(
        self,
        python: str,
        plan: Plan,
        artifact: ModelArtifact,
        eval_x: np.ndarray,
        inputs: list[np.ndarray],
        settings: Settings,
    ):
        self._dir = Path(tempfile.mkdtemp(prefix="aibench-partner-"))
        np.save(self._dir / "eval.npy", eval_x)
        np.savez(self._dir / "inputs.npz", *inputs)
        job = {
            "runner": plan.runner,
            "artifact": artifact,
            "node": plan.node,
            "settings": settings,
            "eval": str(self._dir / "eval.npy"),
            "inputs": str(self._dir / "inputs.npz"),
            "predictions": str(self._dir / "predictions.npy"),
            "seed": plan.seed,
            "raw": getattr(plan, "task", "classification")
            != "classification",  # a task's raw outputs come back, decoded here
        }
        (self._dir / "job.pkl").write_bytes(pickle.dumps(job, protocol=4))
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        # the partner's warnings go to a file: a pipe nobody reads would fill and stall it mid-timing
        self._err = open(self._dir / "stderr.txt", "wb")  # noqa: SIM115 (closed in close())
        try:
            self._proc = subprocess.Popen(
                [python, "-u", __file__, str(self._dir / "job.pkl")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._err,
                env=env,
            )
        except OSError as exc:
            self._err.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise PartnerError(f"--aibench-against-python {python}: cannot start it: {exc}") from None
        line = self._proc.stdout.readline() if self._proc.stdout else b""
        if not line.startswith(b"{"):
            self._proc.kill()
            self._proc.wait()
            err = self.stderr()
            self.close()
            raise PartnerError(
                f"--aibench-against-python {python}: the partner did not start: "
                f"{(line.decode(errors='replace') + err).strip()[-800:]}"
            )
        self.environment: dict[str, Any] = {"where": f"partner interpreter {python}", **json.loads(line)}
        self.pid = self._proc.pid

    def stderr(self) -> str:
        self._err.flush()
        return (self._dir / "stderr.txt").read_text(errors="replace")

    def _send(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)
        self._proc.stdin.flush()

    def _read(self, n: int) -> bytes:
        assert self._proc.stdout is not None
        data = self._proc.stdout.read(n)
        if len(data) != n:
            err = self.stderr()
            raise PartnerError(f"the partner interpreter stopped answering: {err.strip()[-800:]}")
        return data

    def predictions(self, x: np.ndarray, batch: int) -> np.ndarray:
        self._send(b"P")
        self._read(2)
        return np.load(self._dir / "predictions.npy")

    def timed(self, i: int) -> int:
        self._send(b"T" + struct.pack("<I", i))
        return int(struct.unpack("<q", self._read(8))[0])

    def close(self) -> None:
        try:
            self._send(b"Q")
            self._proc.wait(10)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self._proc.kill()
        finally:
            self._err.close()
            shutil.rmtree(self._dir, ignore_errors=True)


def _serve(job_path: str) -> int:
    """The partner's side: prepare, then answer requests until Q. The protocol keeps the real
    stdout to itself: anything a runtime prints goes to stderr instead of into the answers."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    job = pickle.loads(Path(job_path).read_bytes())  # written by the parent just now, in its own folder
    runner = job["runner"].get()
    session = runner.prepare(job["artifact"], job["node"], job["settings"])
    with np.load(job["inputs"]) as z:
        inputs = [z[k] for k in z.files]
    versions = {}
    for dist in dict.fromkeys(["numpy", *packages().values()]):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    out.write(
        json.dumps(
            {
                "python": platform.python_version(),
                "executable": sys.executable,
                "versions": versions,
                "runner": runner.name,
                "options": getattr(session, "options", None),
            },
            default=str,
        ).encode()
        + b"\n"
    )
    out.flush()
    read = sys.stdin.buffer.read
    clock = time.perf_counter_ns
    infer = session.infer
    while True:
        op = read(1)
        if op in (b"Q", b""):
            return 0
        if op == b"P":
            x = session.adapt(np.load(job["eval"]))
            b = job["settings"].batch_size
            got = [infer(x[i : i + b]) for i in range(0, len(x), b)]
            np.save(job["predictions"], np.concatenate(got if job.get("raw") else [g.argmax(-1) for g in got]))
            out.write(b"ok")
        elif op == b"T":
            x = inputs[struct.unpack("<I", read(4))[0]]
            t0 = clock()
            infer(x)
            out.write(struct.pack("<q", clock() - t0))
        out.flush()


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
