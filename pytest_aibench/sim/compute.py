"""A node's time for one sample of a model: the roofline (sim.roofline) where the model's graph is
counted and the node has peaks and a bandwidth, else FLOPs over the node's sustained GFLOP/s.

Simulated devices use per-kind efficiencies measured once on a host and committed
(``fixtures/sim/efficiency.json``, with the machine they came from), so a simulated time is the same on
every run and every xdist worker; the ``host`` node uses its own calibration, measured in this process,
and is timed beside the item (:func:`pytest_aibench.paradigms.edge_cloud._measured`)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pytest_aibench.errors import NotAvailable
from pytest_aibench.files import shipped
from pytest_aibench.sim import roofline
from pytest_aibench.sim.calibrate import host_gflops
from pytest_aibench.sim.node import Node

EFFICIENCY = "sim/efficiency.json"


@lru_cache(maxsize=1)
def committed() -> dict[str, Any]:
    """The committed per-kind efficiency curves and where they were measured."""
    return json.loads(shipped(EFFICIENCY).read_text())


def host_calibration(node: Node) -> roofline.Calibration | None:
    """This host's roofline figures (ONNX Runtime's single-operator graphs), or None without ONNX Runtime."""
    try:
        return roofline.calibrate(node.threads)
    except ImportError:
        return None


def gflops_of(node: Node) -> float | None:
    """A node's sustained GFLOP/s: its profile's figure, or for the calibrated ``host`` profile the float32
    GEMM rate measured here at first use (once per process and thread count)."""
    if node.gflops is None and node.calibrated:
        cal = host_calibration(node)
        return cal.peak_gflops if cal is not None else host_gflops(node.threads)
    return node.gflops


def _mflops(facts: Any) -> float | None:
    return facts if isinstance(facts, (int, float)) or facts is None else getattr(facts, "mflops", None)


def flops_only_s(node: Node, facts: Any, quantization: str = "fp32") -> float:
    """FLOPs / (sustained GFLOP/s x the node's speedup for this precision): the model before the roofline."""
    gflops, mflops = gflops_of(node), _mflops(facts)
    if mflops is None or gflops is None:
        raise NotAvailable("simulated compute needs the model's FLOPs (zoo models have them) and a node with gflops")
    return mflops * 1e6 / (gflops * 1e9 * node.speedup_for(quantization))


def compute_s(node: Node, facts: Any, quantization: str = "fp32", slowdown: float = 1.0) -> float:
    """Simulated seconds for one sample on ``node``: the roofline where it can be drawn, else FLOPs-only.
    ``slowdown`` scales the host's calibration by how much slower it runs now than when calibrated."""
    if not node.offers(quantization):
        raise NotAvailable(
            f"the {node.name} profile has no {quantization} compute path (its peaks: "
            f"{', '.join(p for p, _ in node.peak_gflops)}): not offered on this device"
        )
    work = facts.work() if hasattr(facts, "work") else None
    if work:
        if node.calibrated:
            cal = host_calibration(node)
            if cal is not None:
                return slowdown * roofline.predict_s(
                    work,
                    cal.peak_gflops,
                    cal.bandwidth_gbs,
                    cal.efficiency,
                    cal.overhead_s,
                    node.computes_in(quantization),
                    cal.call_s,
                )
        elif node.peak_gflops and node.bandwidth_gbs:
            eff = {k: [tuple(p) for p in v] for k, v in committed()["efficiency"].items()}
            return roofline.predict_s(
                work,
                float(node.peak_for(quantization) or 0.0),
                node.bandwidth_gbs,
                eff,
                (node.op_overhead_us or 0.0) * 1e-6,
                node.computes_in(quantization),
                (node.call_overhead_us or 0.0) * 1e-6,
            )
    return flops_only_s(node, facts, quantization) * (slowdown if node.calibrated else 1.0)


def model_of(node: Node, facts: Any) -> str:
    """Which model timed the node: "roofline" or "flops-only"."""
    work = facts.work() if hasattr(facts, "work") else None
    if work and ((node.calibrated and host_calibration(node) is not None) or (node.peak_gflops and node.bandwidth_gbs)):
        return "roofline"
    return "flops-only"
