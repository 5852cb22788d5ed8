"""Measure an item in a child process, so a runtime that segfaults, aborts or hangs costs that item
only. The child is spawned (not forked: forking a process that already runs torch or onnxruntime
threads can deadlock), prepares the runner, runs the paradigm and sends the Measurement back."""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from dataclasses import dataclass
from typing import Any


@dataclass
class Isolated:
    """What the aibench_runner fixture gives in isolation mode: everything to prepare, nothing prepared."""

    runner: Any
    artifact: Any
    node: Any
    item_settings: Any
    timeout: float | None = None
    settings: dict[str, Any] | None = None   # the runner's recorded settings, once the child has run

    # the item body treats this like a session until the child has run
    def close(self) -> None:
        pass


class ChildCrashed(Exception):
    """The child died without answering (a signal, or os._exit)."""


class ChildTimedOut(Exception):
    """The child ran past the timeout and was killed."""


def signal_name(code: int) -> str:
    try:
        return f"{signal.Signals(-code).name} ({-code})"
    except ValueError:
        return f"signal {-code}"


def _child(job: dict[str, Any], conn: Any) -> None:
    try:
        measurement, settings = measure_job(job)
        conn.send(("ok", measurement, settings))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as data
        from pytest_aibench.artifact import ArtifactError, NotAvailable  # noqa: PLC0415

        kind = "artifact" if isinstance(exc, ArtifactError) else "skip" if isinstance(exc, NotAvailable) else "error"
        conn.send((kind, f"{type(exc).__name__}: {exc}" if kind == "error" else str(exc),
                   traceback.format_exc() if kind == "error" else ""))
    finally:
        conn.close()


def measure_job(job: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Seed, prepare the runner and run the paradigm on ``job`` in this process: the Measurement and the
    runner's settings (shared by the isolated child and the device-farm worker)."""
    from pytest_aibench.fixtures import seed_everything  # noqa: PLC0415
    from pytest_aibench.measure.memory import reset_peak, rss_mb  # noqa: PLC0415
    from pytest_aibench.paradigms import ParadigmContext  # noqa: PLC0415

    seed_everything(job["seed"])
    reset_peak()
    before = rss_mb()
    runner, artifact, node, settings = job["runner"], job["artifact"], job["node"], job["settings"]
    session = runner.prepare(artifact, node, settings)
    try:
        load_mb = max(0.0, rss_mb() - before)
        ctx = ParadigmContext(job["case"], settings, job["dataset"], session, node, job["seed"], job["extra"],
                              lambda: runner.prepare(artifact, node, settings), job.get("topology"),
                              job.get("params") or {})
        measurement = job["paradigm"].run(ctx)
        measurement.load_rss_mb = load_mb
        from pytest_aibench.machine import cpu_summary  # noqa: PLC0415

        measurement.info["machine"] = cpu_summary()
        return measurement, dict(session.settings)
    finally:
        session.close()


def run_job(job: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Measure ``job`` here (a device-farm worker): the Measurement, the runner's settings and this
    machine's description."""
    import pathlib  # noqa: PLC0415

    from pytest_aibench.machine import machine_info  # noqa: PLC0415

    measurement, settings = measure_job(job)
    return measurement, settings, machine_info(pathlib.Path.cwd())


def run_isolated(job: dict[str, Any], timeout: float | None) -> tuple[Any, dict[str, Any]]:
    """The child's Measurement and runner settings; ChildCrashed, ChildTimedOut, or the child's error
    re-raised as RuntimeError / ArtifactError / NotAvailable."""
    from pytest_aibench.artifact import ArtifactError, NotAvailable  # noqa: PLC0415

    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(job, send), name="aibench-isolated", daemon=True)
    proc.start()
    send.close()
    try:
        if not receive.poll(timeout):
            proc.kill()
            proc.join(5)
            raise ChildTimedOut(f"timed out after {timeout:g} s; its process was killed")
        try:
            answer = receive.recv()
        except (EOFError, OSError):
            answer = None
        proc.join(10)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        receive.close()
    if answer is None:
        code = proc.exitcode
        raise ChildCrashed(f"the runtime crashed in its isolated process: killed by {signal_name(code)}"
                           if code is not None and code < 0 else f"its isolated process exited with code {code}")
    kind = answer[0]
    if kind == "ok":
        return answer[1], answer[2]
    if kind == "artifact":
        raise ArtifactError(answer[1])
    if kind == "skip":
        raise NotAvailable(answer[1])
    raise RuntimeError(f"{answer[1]}\n{answer[2]}")
