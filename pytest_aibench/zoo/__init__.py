"""The model zoo: families defined in torch (imported only when a model is built or loaded),
and model cards describing built artifacts under ``fixtures/models/<name>/``."""

from __future__ import annotations

from typing import Any

from pytest_aibench.registry import Registry

#: family name -> "module:function(**config) -> torch.nn.Module"
FAMILIES: Registry[Any] = Registry("model family", "pytest_aibench.families", {
    "tinycnn": "pytest_aibench.zoo.tinycnn:build",
    "resnet": "pytest_aibench.zoo.families:resnet",
    "inception": "pytest_aibench.zoo.families:inception",
    "densenet": "pytest_aibench.zoo.families:densenet",
    "squeezenet": "pytest_aibench.zoo.families:squeezenet",
    "mobilenetv2": "pytest_aibench.zoo.families:mobilenetv2",
    "mnasnet": "pytest_aibench.zoo.families:mnasnet",
    "lstm": "pytest_aibench.zoo.sequence:lstm",
})


def build_module(family: str, config: dict[str, Any]) -> Any:
    """A fresh (untrained) torch module of ``family`` with ``config``."""
    return FAMILIES.get(family)(**config)
