"""Links between nodes: latency, bandwidth, jitter, loss and scheduled outages, all seeded.

Transfer time = queueing + payload bytes / bandwidth + propagation latency + jitter; a lost packet
costs a retransmission of the payload. Where several edges share an uplink, queueing follows
EdgeCloudSim's M/M/1 model: delay = 1 / (mu - lambda * N), mu = bandwidth / mean payload, lambda the
per-device request rate, N the devices; a saturated link (lambda * N >= mu) is reported as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Link:
    latency_ms: float = 10.0
    bandwidth_mbps: float = 100.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    outages: tuple[tuple[float, float], ...] = ()  # simulated seconds [start, end)
    shared_by: int = 1  # devices sharing the uplink (M/M/1 queueing)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Link:
        outages = tuple((float(a), float(b)) for a, b in spec.get("outages", ()))
        for a, b in outages:
            if not b > a:
                raise ValueError(
                    f"outage [{a:g}, {b:g}] ends before it starts: give [start_s, end_s] with end_s > start_s"
                )
        return cls(
            float(spec.get("latency_ms", 10.0)),
            float(spec.get("bandwidth_mbps", 100.0)),
            float(spec.get("jitter_ms", 0.0)),
            float(spec.get("loss", 0.0)),
            outages,
            int(spec.get("shared_by", 1)),
        )

    def down(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.outages)

    def queueing_s(self, payload_bytes: float, rate_per_device: float) -> float:
        """EdgeCloudSim's M/M/1 delay for this payload size and request rate; inf when saturated."""
        if rate_per_device <= 0 or payload_bytes <= 0:
            return 0.0
        mu = self.bandwidth_mbps * 1e6 / 8 / payload_bytes
        load = rate_per_device * self.shared_by
        return math.inf if load >= mu else 1.0 / (mu - load) - 1.0 / mu


@dataclass
class Channel:
    """A link in use: seeded jitter and loss, counted bytes."""

    link: Link
    rng: np.random.Generator
    bytes_sent: int = 0
    transfers: int = 0
    retransmissions: int = 0
    failures: int = 0
    rate_per_device: float = 0.0

    def transfer(self, payload_bytes: int, t: float) -> float | None:
        """Simulated seconds to move ``payload_bytes`` starting at ``t``; None during an outage."""
        if self.link.down(t):
            self.failures += 1
            return None
        serial = payload_bytes * 8 / (self.link.bandwidth_mbps * 1e6)
        total = self.link.latency_ms / 1e3 + self.link.queueing_s(payload_bytes, self.rate_per_device)
        jitter = abs(float(self.rng.normal(0, self.link.jitter_ms))) / 1e3 if self.link.jitter_ms else 0.0
        total += serial + jitter
        while self.link.loss and float(self.rng.random()) < self.link.loss:  # each loss resends the payload
            total += serial + self.link.latency_ms / 1e3
            self.retransmissions += 1
            self.bytes_sent += payload_bytes
        self.bytes_sent += payload_bytes
        self.transfers += 1
        return total

    def up_at(self, t: float) -> float:
        """The first time at or after ``t`` when the link is up (the end of the outage ``t`` falls in)."""
        while self.link.down(t):
            t = next(b for a, b in self.link.outages if a <= t < b)
        return t

    def transfer_waiting(self, payload_bytes: int, t: float, retry_s: float = 0.0) -> float:
        """Seconds from ``t`` until ``payload_bytes`` arrive when the sender waits out outages: it retries
        every ``retry_s`` (0: the instant the link is back). Time always passes through an outage."""
        start = t
        while True:
            got = self.transfer(payload_bytes, t)
            if got is not None:
                return t - start + got
            back = self.up_at(t)  # every retry before the link is back fails: jump, never poll
            t = back if retry_s <= 0 else t + max(1, math.ceil((back - t) / retry_s)) * retry_s
