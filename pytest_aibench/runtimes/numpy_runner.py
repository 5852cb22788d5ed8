"""numpy as a runtime for DeepBench-style kernels (GEMM, convolution, LSTM on the host's BLAS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench.runtimes import accelerator, no_device
from pytest_aibench.runtimes.kernels import prepare

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.model import Settings
    from pytest_aibench.sim.node import Node


class NumpyRunner:
    name = "numpy"
    module = "numpy"
    package = "numpy"
    install_hint = "pip install numpy"
    formats = ("kernel",)

    def derives(self, quantization: str, fmt: str) -> bool:
        return False

    def prepare(self, artifact: ModelArtifact, node: Node, settings: Settings) -> Any:
        if accelerator(settings.device)[0] != "cpu":
            raise no_device("numpy", settings.device, "numpy computes on the CPU")
        return prepare("numpy", artifact.kernel, artifact.quantization, settings.threads or node.threads)
