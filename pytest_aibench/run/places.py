"""Where an item is measured. Every place takes the same :class:`Plan`, unchanged, and gives back
the :class:`Result` that :func:`measure` made where it ran:

- :class:`Local`: this pytest process (the default), with the session its fixture prepared;
- :class:`Child`: a spawned child process (``--aibench-isolate``; with a timeout for
  ``--aibench-timeout`` or a manifest's ``timeout:``), so a runtime that segfaults, aborts or hangs
  costs that item only. Spawned, not forked: forking a process that runs torch or onnxruntime
  threads can deadlock;
- :class:`Worker`: a Dask worker offering the item's ``device`` (``--aibench-dispatch``).

A place that cannot deliver raises :class:`PlaceError` (the item fails with its message);
:class:`ArtifactError` and :class:`NotAvailable` from the measurement pass through unchanged.
"""

from __future__ import annotations

import multiprocessing
import pathlib
import signal
import traceback
from typing import TYPE_CHECKING, Any, Protocol

from pytest_aibench.core.result import Result
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.machine import machine_info
from pytest_aibench.run.measure import Here, measure
from pytest_aibench.runtimes import packages

if TYPE_CHECKING:
    from pytest_aibench.cluster.backend import DaskBackend
    from pytest_aibench.run.plan import Plan


class PlaceError(Exception):
    """The place could not measure the item (crash, timeout, lost worker); the message says why."""


class Place(Protocol):
    name: str

    def measure(self, plan: Plan) -> Result: ...


class Local:
    name = "this process"

    def __init__(self, here: Here | None = None):
        self.here = here or Here()

    def measure(self, plan: Plan) -> Result:
        return measure(plan, self.here)


def signal_name(code: int) -> str:
    try:
        return f"{signal.Signals(-code).name} ({-code})"
    except ValueError:
        return f"signal {-code}"


def _child(plan: Plan, conn: Any) -> None:
    try:
        result = measure(plan)
        result.runner["isolated"] = "child process"
        conn.send(("ok", result.to_dict(), ""))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as data
        kind = "artifact" if isinstance(exc, ArtifactError) else "skip" if isinstance(exc, NotAvailable) else "error"
        conn.send(
            (
                kind,
                f"{type(exc).__name__}: {exc}" if kind == "error" else str(exc),
                traceback.format_exc() if kind == "error" else "",
            )
        )
    finally:
        conn.close()


class Child:
    name = "child process"

    def __init__(self, timeout: float | None = None):
        self.timeout = timeout

    def measure(self, plan: Plan) -> Result:
        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(plan, send), name="aibench-isolated", daemon=True)
        proc.start()
        send.close()
        try:
            if not receive.poll(self.timeout):
                proc.kill()
                proc.join(5)
                raise PlaceError(f"timed out after {self.timeout:g} s; its process was killed")
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
            raise PlaceError(
                f"the runtime crashed in its isolated process: killed by {signal_name(code)}"
                if code is not None and code < 0
                else f"its isolated process exited with code {code} before "
                "sending a result (code the item ran, a factory or stage, ended the process)"
            )
        kind, body, trace = answer
        if kind == "ok":
            return Result.from_dict(body)
        if kind == "artifact":
            raise ArtifactError(body)
        if kind == "skip":
            raise NotAvailable(body)
        raise PlaceError(f"error in the isolated process: {body}\n{trace}")


def measure_on_worker(plan: Plan) -> Result:
    """Run on a device-farm worker: the Result, with that worker's machine description."""
    result = measure(plan)
    result.info["worker_machine"] = machine_info(pathlib.Path.cwd(), tuple(packages().values()))
    return result


class Worker:
    name = "dask worker"

    def __init__(self, backend: DaskBackend):
        self.backend = backend

    def measure(self, plan: Plan) -> Result:
        device = plan.settings.device or "host"
        cluster = self.backend.cluster
        if not cluster.offers(device):
            offered = sorted({r for res in cluster.resources().values() for r in res})
            raise NotAvailable(
                f"no cluster worker offers device {device!r} (workers offer: {', '.join(offered) or 'nothing'})"
            )
        self.backend.placements.clear()
        try:
            result: Result = self.backend.run(device, measure_on_worker, plan)
        except (ArtifactError, NotAvailable):
            raise
        except Exception as exc:  # KilledWorker after the retry, a lost connection, ...
            raise PlaceError(
                f"measuring on the cluster failed ({type(exc).__name__}: {exc}); the worker may have "
                "died (Dask retried the task once)"
            ) from None
        result.runner["dispatched_to"] = device
        result.info["placements"] = sorted(set(self.backend.placements))
        return result
