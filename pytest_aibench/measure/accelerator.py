"""Accelerator utilisation and memory while an item computes on a GPU (AIIA's chip utilisation), read
from NVML (``nvidia-ml-py``) by a sampling thread; and the ``accelerator`` metric group that declares them.

NVML counts utilisation as the share of its sample period in which a kernel ran, and memory as what the
whole device holds (every process's), so the figures say how busy the chip was, not what one call cost.
A CPU item, a machine without NVML or a device NVML cannot open records nothing and says why in
``info.accelerator``; nothing here is imported unless an item asked for ``device: cuda``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from typing import Any

from pytest_aibench.core.device import accelerator
from pytest_aibench.core.metric import MetricInfo
from pytest_aibench.measure import Measurement

#: seconds between NVML reads (its own utilisation window is 1/6 s to 1 s, depending on the product)
INTERVAL_S = 0.02


def nvml_index(cuda_index: int, visible: str | None = None) -> int:
    """The NVML index of CUDA device ``cuda_index``: CUDA numbers only the visible devices, NVML all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    listed = [v.strip() for v in (visible or "").split(",") if v.strip()]
    if listed and cuda_index < len(listed) and listed[cuda_index].isdigit():
        return int(listed[cuda_index])
    return cuda_index


class AcceleratorMeter:
    """``with AcceleratorMeter(settings.device) as m: ...`` then ``m.result()`` and ``m.info``."""

    def __init__(self, device: str | None, interval_s: float = INTERVAL_S, nvml: Any = None):
        try:
            kind, index = accelerator(device)
        except ValueError:  # a malformed device is the runner's to refuse; nothing to sample
            kind, index = "cpu", 0
        self.kind, self.index, self.interval_s = kind, index, interval_s
        self._nvml = nvml
        self._handle: Any = None
        self._util: list[float] = []
        self._mem_util: list[float] = []
        self._used: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.info: dict[str, Any] = {}
        self.total_mb: float | None = None

    def _open(self) -> Any:
        if self.kind != "cuda":
            return None
        nvml = self._nvml
        if nvml is None:
            if importlib.util.find_spec("pynvml") is None:
                self.info = {"nvml": "not installed: pip install 'pytest-aibench[gpu]' (nvidia-ml-py)"}
                return None
            nvml = importlib.import_module("pynvml")
        try:
            nvml.nvmlInit()
            handle = nvml.nvmlDeviceGetHandleByIndex(nvml_index(self.index))
            self.info = {
                "name": _text(nvml.nvmlDeviceGetName(handle)),
                "driver": _text(nvml.nvmlSystemGetDriverVersion()),
                "nvml_index": nvml_index(self.index),
            }
            self.total_mb = nvml.nvmlDeviceGetMemoryInfo(handle).total / 2**20
        except Exception as exc:  # noqa: BLE001 - NVMLError and its many subclasses: record why, measure on
            self.info = {"nvml": f"unavailable: {type(exc).__name__}: {exc}"}
            return None
        self._nvml = nvml
        return handle

    def _sample(self) -> None:
        nvml, handle = self._nvml, self._handle
        while not self._stop.is_set():
            try:
                rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                used = nvml.nvmlDeviceGetMemoryInfo(handle).used
            except Exception:  # noqa: BLE001 - a read that fails is a sample missed, not an item failed
                self._stop.wait(self.interval_s)
                continue
            self._util.append(float(rates.gpu))
            self._mem_util.append(float(rates.memory))
            self._used.append(used / 2**20)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> AcceleratorMeter:
        self._handle = self._open()
        if self._handle is not None:
            self._thread = threading.Thread(target=self._sample, name="aibench-nvml", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001, S110 - shutting down a library we are done with
                pass

    def result(self) -> dict[str, Any]:
        """``accelerator.*`` metrics over the region (empty without samples)."""
        if not self._util:
            return {}
        return {
            "accelerator.util_pct": sum(self._util) / len(self._util),
            "accelerator.util_max_pct": max(self._util),
            "accelerator.memory_util_pct": sum(self._mem_util) / len(self._mem_util),
            "accelerator.memory_used_mb": max(self._used),
            "accelerator.memory_total_mb": self.total_mb,
            "accelerator.samples": len(self._util),
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Accelerator:
    """A GPU item's utilisation and memory during its accuracy pass (NVML); nothing on a CPU."""

    name = "accelerator"
    provides = {
        "accelerator.util_pct": MetricInfo("mean GPU utilisation over the accuracy pass (NVML, %)", True),
        "accelerator.util_max_pct": MetricInfo("highest GPU utilisation sample (NVML, %)", None),
        "accelerator.memory_util_pct": MetricInfo("mean share of time device memory was read or written (%)", None),
        "accelerator.memory_used_mb": MetricInfo("peak device memory in use, every process's (NVML, MiB)", False),
        "accelerator.memory_total_mb": MetricInfo("the device's memory (MiB)", None),
        "accelerator.samples": MetricInfo("NVML samples taken", None),
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        return dict(m.accelerator)
