"""Energy of a measured region, always with its method.

``rapl``: the Linux powercap counters (``/sys/class/powercap/intel-rapl:*``, package and dram zones)
read before and after, wrap-around handled. ``model``: where RAPL is unreadable, the iFogSim/
EdgeCloudSim power model P = P_idle + (P_max - P_idle) * u, with u the process CPU time over wall time
per core of the node, and watts from the node profile or the host default below. No energy number
is ever reported without its ``energy.method``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: host power model when the node profile gives none: a small server's socket, per core
HOST_IDLE_W_PER_CORE = 5.0
HOST_MAX_W_PER_CORE = 15.0


def powercap_root() -> Path:
    return Path(os.environ.get("AIBENCH_POWERCAP_ROOT", "/sys/class/powercap"))


@dataclass(frozen=True)
class Zone:
    name: str  # package-0, dram, ...
    energy: Path  # energy_uj
    max_range: int  # max_energy_range_uj (wrap-around)


def rapl_zones(root: Path | None = None) -> list[Zone]:
    """Readable RAPL package and dram zones (sub-zones like core/uncore are inside package)."""
    root = root or powercap_root()
    zones = []
    for folder in sorted(root.glob("intel-rapl:*")):
        name_file, energy = folder / "name", folder / "energy_uj"
        try:
            name = name_file.read_text().strip()
            int(energy.read_text())
            max_range = int((folder / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue  # absent, or readable only by root: not usable
        if name.startswith("package") or name == "dram":
            zones.append(Zone(name, energy, max_range))
    return zones


class EnergyMeter:
    """Context manager: ``with EnergyMeter(node_idle_w, node_max_w, cores) as m: ...`` then ``m.result()``."""

    def __init__(
        self, idle_w: float | None = None, max_w: float | None = None, cores: int = 1, root: Path | None = None
    ):
        self.cores = max(1, cores)
        self.idle_w = idle_w if idle_w is not None else HOST_IDLE_W_PER_CORE * self.cores
        self.max_w = max_w if max_w is not None else HOST_MAX_W_PER_CORE * self.cores
        self.zones = rapl_zones(root)
        self._start: dict[str, int] = {}
        self.joules: dict[str, float] = {}
        self.wall_s = 0.0
        self.cpu_s = 0.0

    def _read(self) -> dict[str, int]:
        out = {}
        for z in self.zones:
            try:
                out[z.name] = int(z.energy.read_text())
            except (OSError, ValueError):
                pass
        return out

    def __enter__(self) -> EnergyMeter:
        self._start = self._read()
        self._t0 = time.perf_counter()
        self._c0 = time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall_s = time.perf_counter() - self._t0
        self.cpu_s = time.process_time() - self._c0
        end = self._read()
        for z in self.zones:
            if z.name in self._start and z.name in end:
                delta = end[z.name] - self._start[z.name]
                if delta < 0:  # the counter wrapped
                    delta += z.max_range
                self.joules[z.name] = delta / 1e6

    def result(self, inferences: int) -> dict[str, Any]:
        """``energy.*`` metrics for ``inferences`` done inside the region."""
        if self.joules:
            method, joules = "rapl", sum(self.joules.values())
            detail = {f"energy.rapl_{k.replace('-', '_')}_j": v for k, v in self.joules.items()}
        else:
            u = min(1.0, self.cpu_s / (self.wall_s * self.cores)) if self.wall_s > 0 else 0.0
            watts = self.idle_w + (self.max_w - self.idle_w) * u
            method, joules = "model", watts * self.wall_s
            detail = {"energy.utilization": u, "energy.idle_w": self.idle_w, "energy.max_w": self.max_w}
        out: dict[str, Any] = {
            "energy.method": method,
            "energy.joules": joules,
            "energy.seconds": self.wall_s,
            "energy.watts": joules / self.wall_s if self.wall_s > 0 else 0.0,
            **detail,
        }
        if inferences > 0 and joules > 0:
            out["energy.j_per_inference"] = joules / inferences
            out["energy.ips_per_w"] = (inferences / self.wall_s) / out["energy.watts"]
        return out
