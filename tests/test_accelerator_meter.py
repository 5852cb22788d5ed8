"""NVML figures of a GPU item (utilisation, memory, driver), from a sampling thread around the accuracy
pass. The real NVML needs an NVIDIA GPU; here a stand-in library with NVML's interface plays one whose
utilisation and memory change while the region runs, so the meter's arithmetic and its refusals are
checked on any machine (benchmarks/accelerator_check.py runs it on a real GPU)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from pytest_aibench.judge.metrics import METRICS, default_groups
from pytest_aibench.measure import Measurement
from pytest_aibench.measure.accelerator import AcceleratorMeter, nvml_index


class FakeNvml:
    """NVML's calls the meter makes; utilisation climbs 10 % per read up to 90 %, memory 100 MiB per read."""

    def __init__(self, fail_init: bool = False):
        self.reads = 0
        self.fail_init = fail_init
        self.opened: list[int] = []
        self.shut = False

    def nvmlInit(self) -> None:  # noqa: N802 - NVML's names
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shut = True

    def nvmlDeviceGetHandleByIndex(self, i: int) -> str:  # noqa: N802
        self.opened.append(i)
        return f"gpu{i}"

    def nvmlDeviceGetName(self, h: str) -> bytes:  # noqa: N802
        return b"NVIDIA H100 80GB HBM3"

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        return "575.51.03"

    def nvmlDeviceGetUtilizationRates(self, h: str) -> SimpleNamespace:  # noqa: N802
        self.reads += 1
        return SimpleNamespace(gpu=min(90, 10 * self.reads), memory=5)

    def nvmlDeviceGetMemoryInfo(self, h: str) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(used=(1000 + 100 * self.reads) * 2**20, total=81559 * 2**20)


def test_a_gpu_region_records_mean_and_peak_utilisation_memory_and_the_driver():
    fake = FakeNvml()
    with AcceleratorMeter("cuda:0", interval_s=0.001, nvml=fake) as m:
        deadline = time.monotonic() + 5
        while fake.reads < 12 and time.monotonic() < deadline:
            time.sleep(0.002)
    got = m.result()
    n = got["accelerator.samples"]
    assert n >= 12 and fake.shut
    util = [min(90, 10 * k) for k in range(1, n + 1)]
    assert got["accelerator.util_pct"] == pytest.approx(sum(util) / n)
    assert got["accelerator.util_max_pct"] == 90
    assert got["accelerator.memory_used_mb"] == pytest.approx(1000 + 100 * n)
    assert got["accelerator.memory_total_mb"] == 81559
    assert m.info == {"name": "NVIDIA H100 80GB HBM3", "driver": "575.51.03", "nvml_index": 0}


def test_cuda_indices_map_through_visible_devices_to_nvml_indices():
    assert nvml_index(0, "") == 0
    assert nvml_index(1, "3,5") == 5
    assert nvml_index(0, "GPU-8f3c...") == 0  # a UUID list: NVML's order is then unknown, CUDA's index is used


def test_cpu_items_and_missing_nvml_record_nothing_and_say_why():
    fake = FakeNvml()
    with AcceleratorMeter(None, nvml=fake) as m:
        pass
    assert m.result() == {} and m.info == {} and fake.opened == []
    with AcceleratorMeter("cuda", nvml=FakeNvml(fail_init=True)) as m:
        pass
    assert m.result() == {}
    assert m.info["nvml"] == "unavailable: RuntimeError: NVML Shared Library Not Found"


def test_the_accelerator_group_is_measured_by_default_and_reads_the_measurement():
    assert "accelerator" in default_groups()
    group = METRICS.get("accelerator")
    assert group.compute(Measurement()) == {}
    assert group.compute(Measurement(accelerator={"accelerator.util_pct": 42.0})) == {"accelerator.util_pct": 42.0}
