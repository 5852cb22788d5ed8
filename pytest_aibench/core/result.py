"""One item's result as plain data: what reporters, the journal, baselines and bundles read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    id: str  # suite::model[param-id], stable across paths and machines
    suite: str
    model: str
    axes: dict[str, Any]
    nodeid: str = ""
    suite_version: str = ""
    manifest: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    profile: str | None = None
    outcome: str = "passed"  # passed | failed | skipped | error
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    artifact: dict[str, Any] = field(default_factory=dict)
    runner: dict[str, Any] = field(default_factory=dict)
    node: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[Any]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    #: where it was measured: CPU model and the ISA flags that picked the kernels (machine.cpu_summary)
    machine: dict[str, Any] = field(default_factory=dict)
    duration_s: float | None = None
    worker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data with metrics nested by their dotted names (``metrics.latency.p99_ms``)."""
        data = plain(asdict(self))
        data["metrics"] = nest(data["metrics"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["metrics"] = flatten(known.get("metrics") or {})
        return cls(**known)

    @property
    def measured(self) -> bool:
        return bool(self.metrics)


def plain(value: Any) -> Any:
    """Numpy scalars and tuples to JSON/execnet-safe builtins (reports cross process boundaries)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"latency.p99_ms": 3}`` -> ``{"latency": {"p99_ms": 3}}`` for the run JSON; a name that is
    both a leaf and a prefix keeps the leaf under ``"value"``."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        parts = name.split(".")
        cur = out
        for p in parts[:-1]:
            nxt = cur.get(p)
            if not isinstance(nxt, dict):
                nxt = {} if nxt is None else {"value": nxt}
                cur[p] = nxt
            cur = nxt
        leaf = parts[-1]
        if isinstance(cur.get(leaf), dict):
            cur[leaf]["value"] = value
        else:
            cur[leaf] = value
    return out


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Inverse of :func:`nest`."""
    out: dict[str, Any] = {}
    for k, v in nested.items():
        name = f"{prefix}{k}" if k != "value" or not prefix else prefix[:-1]
        if isinstance(v, dict):
            out.update(flatten(v, f"{name}."))
        else:
            out[name] = v
    return out
