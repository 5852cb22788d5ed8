"""A topology: N edge nodes and a cloud node joined by an uplink and a downlink, from a manifest's
``topologies:`` entry (profiles built in or from its ``nodes:``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_aibench.sim.links import Channel, Link
from pytest_aibench.sim.node import PROFILES, Node, profile


@dataclass(frozen=True)
class Topology:
    name: str = "default"
    edge: Node = field(default_factory=lambda: PROFILES["rpi4"])
    cloud: Node = field(default_factory=lambda: PROFILES["cloud"])
    edges: int = 1
    uplink: Link = field(default_factory=Link)
    downlink: Link = field(default_factory=Link)

    def channels(self, seed: int) -> tuple[Channel, Channel]:
        """Seeded uplink and downlink in use (fresh per item, so items never share randomness)."""
        rng = np.random.default_rng([seed, 7])
        return Channel(self.uplink, rng), Channel(self.downlink, np.random.default_rng([seed, 11]))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "edge": self.edge.describe(),
            "cloud": self.cloud.describe(),
            "edges": self.edges,
            "uplink": self.uplink.__dict__ | {"outages": [list(o) for o in self.uplink.outages]},
            "downlink": self.downlink.__dict__ | {"outages": [list(o) for o in self.downlink.outages]},
        }


def node_from(spec: Any, custom: dict[str, dict[str, Any]]) -> Node:
    """A node from a profile name, a manifest ``nodes:`` entry, or an inline ``{profile: ..., ...}``."""
    if isinstance(spec, str):
        if spec in custom:
            base = dict(custom[spec])
            return profile(base.pop("profile", "rpi4"), {"name": spec, **base})
        return profile(spec)
    spec = dict(spec)
    return profile(spec.pop("profile", "rpi4"), spec)


def topology_from(name: str, spec: dict[str, Any], custom: dict[str, dict[str, Any]]) -> Topology:
    up = Link.from_spec(spec.get("uplink", {}))
    down = Link.from_spec(spec["downlink"]) if "downlink" in spec else up
    edges = int(spec.get("edges", 1))
    if up.shared_by == 1 and edges > 1:
        up = Link(up.latency_ms, up.bandwidth_mbps, up.jitter_ms, up.loss, up.outages, edges)
    return Topology(
        name,
        node_from(spec.get("edge", "rpi4"), custom),
        node_from(spec.get("cloud", "cloud"), custom),
        edges,
        up,
        down,
    )
