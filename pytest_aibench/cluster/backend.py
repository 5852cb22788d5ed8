"""Where a topology's roles run: in this process (the default) or on Dask workers placed by resource.

Paradigms call ``backend.run(role, fn, *args)`` and ``backend.map(role, fn, jobs)``; with Dask, each
call goes to a worker advertising ``role`` (``edge``, ``cloud`` or a profile name), and ``move`` measures
what moving data between two roles' workers really costs, reported beside the simulated link time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pytest_aibench._lazy import lazy

psutil = lazy("psutil")  # only to read a Dask worker's connections; collecting a suite imports this module


class Backend(Protocol):
    """Where a topology's roles run."""

    name: str
    concurrent: bool  # whether map() runs its jobs side by side (a search sizes its generations by it)

    def run(self, role: str, fn: Callable[..., Any], *args: Any) -> Any: ...

    def map(self, role: str, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    def move(self, data: Any, src: str, dst: str) -> float | None: ...

    def describe(self) -> dict[str, Any]: ...


class InProcess:
    name = "in-process"
    concurrent = False

    def run(self, role: str, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def map(self, role: str, fn: Callable[..., Any], jobs: Sequence[tuple]) -> list[Any]:
        return [fn(*job) for job in jobs]

    def move(self, data: Any, src: str, dst: str) -> float | None:
        return None  # nothing moves within one process

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name}


def _nbytes(data: Any) -> int:
    return int(getattr(data, "nbytes", 0))


class DaskBackend:
    name = "dask"
    concurrent = True

    def __init__(self, cluster: Any):
        self.cluster = cluster
        self.client = cluster.client
        self.placements: list[tuple[str, str]] = []  # (role, worker address) of every task

    def _resources(self, role: str) -> dict[str, float] | None:
        return {role: 1} if self.cluster.offers(role) else None

    def run(self, role: str, fn: Callable[..., Any], *args: Any) -> Any:
        future = self.client.submit(fn, *args, resources=self._resources(role), pure=False)
        result = future.result()
        self._record(role, [future])
        return result

    def map(self, role: str, fn: Callable[..., Any], jobs: Sequence[tuple]) -> list[Any]:
        futures = [self.client.submit(fn, *job, resources=self._resources(role), pure=False) for job in jobs]
        results = self.client.gather(futures)
        self._record(role, futures)
        return list(results)

    def move(self, data: Any, src: str, dst: str) -> float | None:
        """Seconds to ship ``data`` from a ``src`` worker to a ``dst`` worker (measured, not simulated)."""
        res = self._resources(src)
        workers = [a for a, r in self.cluster.resources().items() if res is None or src in r]
        future = self.client.scatter(data, workers=workers[:1], direct=True)
        t0 = time.perf_counter()
        self.client.submit(_nbytes, future, resources=self._resources(dst), pure=False).result()
        return time.perf_counter() - t0

    def _record(self, role: str, futures: list[Any]) -> None:
        who = self.client.who_has(futures)
        for f in futures:
            for addr in who.get(f.key, ()):
                self.placements.append((role, addr))

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "scheduler": self.cluster.address,
            "workers": self.cluster.resources(),
            "placements": sorted(set(self.placements)),
            "socket_ips": self.socket_ips(),
        }

    def socket_ips(self) -> list[str]:
        """Every IP address this process and the cluster's workers have sockets on (for loopback checks)."""
        seen = set(_socket_ips())
        for ips in self.client.run(_socket_ips).values():
            seen.update(ips)
        return sorted(seen)


def _socket_ips() -> list[str]:

    ips = set()
    for c in psutil.Process().net_connections(kind="inet"):
        ips.add(c.laddr.ip)
        if c.raddr:
            ips.add(c.raddr.ip)
    return sorted(ips)
