"""``device:`` values: which accelerator kind and index an item asks for, and what is wrong with a value.

Below the runners and the meters that read it, so both parse a device the same way."""

from __future__ import annotations

from typing import Any

#: device kinds a runner may be asked for (``device: cuda:1``); any other ``device`` names a resource a
#: cluster worker offers (--aibench-dispatch) and the item runs on that worker's CPU
ACCELERATORS = ("cpu", "cuda", "gpu", "npu")


def device_problem(device: Any) -> str | None:
    """What is wrong with a ``device:`` value (the manifest checker reports it at its line), or None."""
    if device is None:
        return None
    if not isinstance(device, str) or not device.strip():
        return f"expected a device name such as cpu, cuda, cuda:1, gpu or npu, got {device!r}"
    kind, colon, index = device.lower().partition(":")
    if kind in ACCELERATORS and colon and not index.isdigit():
        return f"device {device!r}: expected {kind} or {kind}:N (a device index), e.g. {kind}:0"
    if kind == "cpu" and colon:
        return f"device {device!r}: the CPU takes no index (threads and pinning say which cores); write cpu"
    return None


def accelerator(device: str | None) -> tuple[str, int]:
    """``device:`` as (kind, index): ``None``/``"cpu"`` -> ("cpu", 0), ``"cuda:1"`` -> ("cuda", 1); ValueError
    saying what is wrong for a malformed one."""
    kind, _, index = (device or "cpu").lower().partition(":")
    if kind not in ACCELERATORS:
        return "cpu", 0
    problem = device_problem(device)
    if problem:
        raise ValueError(problem)
    return kind, int(index or 0)
