"""The model zoo: families defined in torch (imported only when a model is built or loaded),
and model cards describing built artifacts under ``fixtures/models/<name>/``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy
from pytest_aibench.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch.utils import flop_counter
else:
    torch = lazy("torch")
    flop_counter = lazy("torch.utils.flop_counter")

#: family name -> "module:function(**config) -> torch.nn.Module"
FAMILIES: Registry[Any] = Registry(
    "model family",
    "pytest_aibench.families",
    {
        "tinycnn": "pytest_aibench.zoo.tinycnn:build",
        "resnet": "pytest_aibench.zoo.families:resnet",
        "inception": "pytest_aibench.zoo.families:inception",
        "densenet": "pytest_aibench.zoo.families:densenet",
        "squeezenet": "pytest_aibench.zoo.families:squeezenet",
        "mobilenetv2": "pytest_aibench.zoo.families:mobilenetv2",
        "mnasnet": "pytest_aibench.zoo.families:mnasnet",
        "lstm": "pytest_aibench.zoo.sequence:lstm",
        # the non-image tasks' compact networks (verification, recommendation, action, keywords, speech, text)
        **{
            f: f"pytest_aibench.zoo.task_models:{f}" for f in ("siamese", "ncf", "r21d", "dscnn", "ctc_conv", "encoder")
        },
        # the Jetson and AIIA tables' vision networks at their published size (built on first use: zoo.cache)
        **{
            name: f"pytest_aibench.zoo.published_vision:{fn}"
            for name, fn in (
                ("vgg19", "vgg19"),
                ("inception_v4", "inception_v4"),
                ("yolov3_608", "yolov3"),
                ("ssdlite_mobilenetv2_320", "ssdlite_mobilenetv2"),
                ("deeplabv3_mobilenetv2_513", "deeplabv3_mobilenetv2"),
                ("openpose_256x456", "openpose"),
                ("fsrcnn_481x321", "fsrcnn"),
            )
        },
        "dlrm": "pytest_aibench.zoo.published_seq:dlrm",
        # decoders with a KV cache (the generation task): GPT-2-style and Llama/Qwen-style
        "gpt": "pytest_aibench.gen.arch:gpt",
        "llama": "pytest_aibench.gen.arch:llama",
        **{n: f"pytest_aibench.gen.published:{n}" for n in ("gpt2_124m", "qwen2_5_0_5b", "tinyllama_1_1b")},
        # the speech, language, recommendation and video benchmarks' networks at their published size
        **{
            name: f"pytest_aibench.zoo.published_seq:{fn}"
            for name, fn in (
                ("bert_base_384", "bert"),
                ("bert_large_384", "bert_large"),
                ("mobilebert_384", "mobilebert"),
                ("rnnt_mlperf", "rnnt"),
                ("ncf_ml20m", "ncf_ml20m"),
                ("dlrm_criteo_kaggle", "dlrm"),
                ("r2plus1d_18", "r2plus1d_18"),
            )
        },
        # the dense vision tasks' compact networks (detection, segmentation, lanes, super-resolution, pose)
        **{f: f"pytest_aibench.zoo.dense:{f}" for f in ("centernet", "unet", "lanenet", "espcn", "posenet")},
        # the six AIoTBench networks at their published size (built on first use: zoo.cache)
        **{
            name: f"pytest_aibench.zoo.published:{fn}"
            for name, fn in (
                ("resnet50", "resnet50"),
                ("inceptionv3", "inceptionv3"),
                ("densenet121", "densenet121"),
                ("squeezenet1_0", "squeezenet"),
                ("mobilenetv2_1_0", "mobilenetv2"),
                ("mnasnet1_0", "mnasnet"),
            )
        },
    },
)


def build_module(family: str, config: dict[str, Any]) -> Any:
    """A fresh (untrained) torch module of ``family`` with ``config``."""
    return FAMILIES.get(family)(**config)


def count_flops(model: Any, shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass at ``shape``: the model's own analytic count where it has one (fused
    kernels such as LSTM hide their work from torch's counter), else torch's FLOP counter."""
    if hasattr(model, "analytic_flops"):
        return int(model.analytic_flops(shape))
    with flop_counter.FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(shape))
    return int(counter.get_total_flops())
