"""Scale-out on Dask distributed: connect to a scheduler, or start a loopback cluster for ``local:``.

``local:N`` starts N worker processes that take any role; ``local:edge,cloud`` starts one worker per
comma-separated resource set (``+`` joins resources: ``local:edge+jetson_orin,cloud``), so placement by
resource can be exercised on one machine. Everything listens and connects on 127.0.0.1 only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy

if TYPE_CHECKING:
    import dask
    import distributed
else:
    dask = lazy("dask")
    distributed = lazy("distributed")

INSTALL_HINT = "pip install 'pytest-aibench[cluster]' (dask distributed)"
ANY_ROLE = {"edge": 1, "cloud": 1, "host": 1}


class ClusterError(Exception):
    """The cluster option cannot be honoured; the message says why and what to do."""


def local_workers(spec: str) -> list[dict[str, float]]:
    """``local:2`` -> two any-role workers; ``local:edge,cloud+gpu`` -> one worker per resource set."""
    body = spec.removeprefix("local:").strip()
    if body.isdigit():
        n = int(body)
        if not 1 <= n <= 64:
            raise ClusterError(f"--aibench-cluster {spec}: expected 1..64 local workers")
        return [dict(ANY_ROLE) for _ in range(n)]
    sets = [s for s in body.split(",") if s.strip()]
    if not sets:
        raise ClusterError(
            f"--aibench-cluster {spec}: expected local:N or local:RESOURCE[+RESOURCE],... "
            "(e.g. local:2 or local:edge,cloud)"
        )
    return [{r.strip(): 1 for r in s.split("+") if r.strip()} for s in sets]


@dataclass
class Cluster:
    client: Any
    spec: str
    owned: Any = None  # the SpecCluster we started (local:), closed with us
    address: str = ""
    _resources: dict[str, dict[str, float]] = field(default_factory=dict)

    def resources(self) -> dict[str, dict[str, float]]:
        """Worker address -> the resources it advertises (refreshed)."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        self._resources = {addr: dict(w.get("resources") or {}) for addr, w in info.items()}
        return self._resources

    def offers(self, resource: str) -> bool:
        return any(resource in r for r in (self._resources or self.resources()).values())

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.owned is not None:
                self.owned.close()


def start(spec: str) -> Cluster:
    """Connect to ``spec`` (a scheduler address) or start a loopback cluster (``local:...``)."""
    try:
        Client, Nanny, Scheduler, SpecCluster = (
            distributed.Client,
            distributed.Nanny,
            distributed.Scheduler,
            distributed.SpecCluster,
        )
    except ImportError:
        raise ClusterError(f"--aibench-cluster needs Dask distributed: {INSTALL_HINT}") from None
    if not spec.startswith("local:"):
        try:
            client = Client(spec, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"--aibench-cluster {spec}: cannot reach the scheduler ({exc}); start one with "
                "`dask scheduler` and workers with `dask worker ADDRESS --resources edge=1`"
            ) from None
        return Cluster(client, spec, address=spec)
    dask.config.set({"distributed.scheduler.allowed-failures": 1})  # a dying worker's task is retried once
    quiet = logging.ERROR
    workers = {
        f"aibench-{i}": {
            "cls": Nanny,
            "options": {
                "host": "127.0.0.1",
                "nthreads": 1,
                "resources": r,
                "dashboard_address": None,
                "silence_logs": quiet,
            },
        }
        for i, r in enumerate(local_workers(spec))
    }
    cluster = SpecCluster(
        scheduler={"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": None}},
        workers=workers,
        asynchronous=False,
        silence_logs=quiet,
        name="aibench",
    )
    client = Client(cluster)
    return Cluster(client, spec, owned=cluster, address=cluster.scheduler_address)
