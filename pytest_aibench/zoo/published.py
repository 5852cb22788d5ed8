"""The six AIoTBench networks at their published configurations (224 px, 1000 classes; InceptionV3
at 299 px), written here from the papers' tables so no torchvision is needed at run time.

Heavy: ResNet50 v1.5 (stride on the 3x3 of each bottleneck), InceptionV3 (without the auxiliary
head, which inference never runs), DenseNet121. Light: SqueezeNet 1.0, MobileNetV2 1.0, MnasNet 1.0
(the B1 variant, as torchvision and AIoTBench's 315 MFLOPs have it). Weights are seeded
initialisations (:func:`seeded`), never trained: nothing may be downloaded, and what these suites
measure (latency, throughput, memory, effective GFLOP/s) depends on the shapes, not on the values.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.zoo.families import _head, _InvertedResidual, conv_bn, dense_layer, global_pool

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy("torch")
    nn = lazy("torch.nn")

#: zoo name -> (input side, parameters, MACs at that side, where the figures come from)
PUBLISHED: dict[str, tuple[int, float, float, str]] = {
    "resnet50": (224, 25.557e6, 4.09e9, "He et al. 2016 (arXiv:1512.03385); torchvision resnet50 IMAGENET1K_V1 card"),
    "inceptionv3": (
        299,
        23.83e6,
        5.71e9,
        "Szegedy et al. 2016 (arXiv:1512.00567); torchvision inception_v3 card "
        "(27.16 M with the auxiliary head, 23.83 M without)",
    ),
    "densenet121": (224, 7.979e6, 2.83e9, "Huang et al. 2017 (arXiv:1608.06993); torchvision densenet121 card"),
    "squeezenet1_0": (
        224,
        1.248e6,
        0.82e9,
        "Iandola et al. 2016 (arXiv:1602.07360), v1.0; torchvision squeezenet1_0 card; AIoTBench lists 833 MFLOPs",
    ),
    "mobilenetv2_1_0": (224, 3.505e6, 0.30e9, "Sandler et al. 2018 (arXiv:1801.04381), width 1.0: 3.4 M, 300 M MACs"),
    "mnasnet1_0": (
        224,
        4.383e6,
        0.315e9,
        "Tan et al. 2019 (arXiv:1807.11626); torchvision mnasnet1_0 card; AIoTBench lists 315 MFLOPs",
    ),
}


def _basic(cin: int, cout: int, k: Any, s: int = 1, p: Any = 0) -> Any:
    """InceptionV3's conv-BN-ReLU with explicit padding (eps 0.001, as the paper's TF code)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout, eps=0.001), nn.ReLU(inplace=True)
    )


class _Branches:
    """A module whose branches see the same input and are concatenated on channels."""

    @staticmethod
    def make(*branches: Any) -> Any:
        class Concat(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.branches = nn.ModuleList(branches)

            def forward(self, x: Any) -> Any:
                return torch.cat([b(x) for b in self.branches], 1)

        return Concat()


# -- ResNet50 v1.5 ------------------------------------------------------------------------------------
def resnet50(num_classes: int = 1000) -> Any:
    class Bottleneck(nn.Module):
        def __init__(self, cin: int, mid: int, stride: int):
            super().__init__()
            self.body = nn.Sequential(
                conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, stride), conv_bn(mid, mid * 4, 1, act=None)
            )
            self.short = nn.Identity() if stride == 1 and cin == mid * 4 else conv_bn(cin, mid * 4, 1, stride, act=None)
            self.relu = nn.ReLU(inplace=True)
            self.residual = True  # the sum with the shortcut; seeded() damps the branch

        def forward(self, x: Any) -> Any:
            return self.relu(self.body(x) + self.short(x))

    layers: list[Any] = [conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for mid, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, mid, stride if i == 0 else 1))
            cin = mid * 4
    return nn.Sequential(*layers, _head(cin, num_classes))


# -- InceptionV3 --------------------------------------------------------------------------------------
def _inception_a(cin: int, pool: int) -> Any:
    return _Branches.make(
        _basic(cin, 64, 1),
        nn.Sequential(_basic(cin, 48, 1), _basic(48, 64, 5, p=2)),
        nn.Sequential(_basic(cin, 64, 1), _basic(64, 96, 3, p=1), _basic(96, 96, 3, p=1)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), _basic(cin, pool, 1)),
    )


def _inception_b(cin: int) -> Any:
    return _Branches.make(
        _basic(cin, 384, 3, 2),
        nn.Sequential(_basic(cin, 64, 1), _basic(64, 96, 3, p=1), _basic(96, 96, 3, 2)),
        nn.MaxPool2d(3, 2),
    )


def _inception_c(cin: int, c7: int) -> Any:
    return _Branches.make(
        _basic(cin, 192, 1),
        nn.Sequential(_basic(cin, c7, 1), _basic(c7, c7, (1, 7), p=(0, 3)), _basic(c7, 192, (7, 1), p=(3, 0))),
        nn.Sequential(
            _basic(cin, c7, 1),
            _basic(c7, c7, (7, 1), p=(3, 0)),
            _basic(c7, c7, (1, 7), p=(0, 3)),
            _basic(c7, c7, (7, 1), p=(3, 0)),
            _basic(c7, 192, (1, 7), p=(0, 3)),
        ),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), _basic(cin, 192, 1)),
    )


def _inception_d(cin: int) -> Any:
    return _Branches.make(
        nn.Sequential(_basic(cin, 192, 1), _basic(192, 320, 3, 2)),
        nn.Sequential(
            _basic(cin, 192, 1),
            _basic(192, 192, (1, 7), p=(0, 3)),
            _basic(192, 192, (7, 1), p=(3, 0)),
            _basic(192, 192, 3, 2),
        ),
        nn.MaxPool2d(3, 2),
    )


def _inception_e(cin: int) -> Any:
    def split(c: int) -> Any:  # a 3x3 factorised into 1x3 and 3x1 side by side
        return _Branches.make(_basic(c, 384, (1, 3), p=(0, 1)), _basic(c, 384, (3, 1), p=(1, 0)))

    return _Branches.make(
        _basic(cin, 320, 1),
        nn.Sequential(_basic(cin, 384, 1), split(384)),
        nn.Sequential(_basic(cin, 448, 1), _basic(448, 384, 3, p=1), split(384)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), _basic(cin, 192, 1)),
    )


def inceptionv3(num_classes: int = 1000) -> Any:
    stem = [
        _basic(3, 32, 3, 2),
        _basic(32, 32, 3),
        _basic(32, 64, 3, p=1),
        nn.MaxPool2d(3, 2),
        _basic(64, 80, 1),
        _basic(80, 192, 3),
        nn.MaxPool2d(3, 2),
    ]
    body = [
        _inception_a(192, 32),
        _inception_a(256, 64),
        _inception_a(288, 64),
        _inception_b(288),
        _inception_c(768, 128),
        _inception_c(768, 160),
        _inception_c(768, 160),
        _inception_c(768, 192),
        _inception_d(768),
        _inception_e(1280),
        _inception_e(2048),
    ]
    return nn.Sequential(*stem, *body, _head(2048, num_classes, 0.5))


# -- DenseNet121 --------------------------------------------------------------------------------------
def densenet121(num_classes: int = 1000, growth: int = 32, blocks: tuple[int, ...] = (6, 12, 24, 16)) -> Any:
    cin = 2 * growth
    layers: list[Any] = [
        nn.Conv2d(3, cin, 7, 2, 3, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    for i, n in enumerate(blocks):
        for _ in range(n):
            layers.append(dense_layer(cin, growth))
            cin += growth
        if i < len(blocks) - 1:  # transition: halve the channels, pool
            layers += [
                nn.BatchNorm2d(cin),
                nn.ReLU(inplace=True),
                nn.Conv2d(cin, cin // 2, 1, bias=False),
                nn.AvgPool2d(2),
            ]
            cin //= 2
    layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, _head(cin, num_classes))


# -- SqueezeNet 1.0 -----------------------------------------------------------------------------------
def squeezenet(num_classes: int = 1000) -> Any:
    def fire(cin: int, squeeze: int, expand: int) -> Any:
        return nn.Sequential(
            nn.Conv2d(cin, squeeze, 1),
            nn.ReLU(inplace=True),
            _Branches.make(
                nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU(inplace=True)),
                nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU(inplace=True)),
            ),
        )

    def pool() -> Any:
        return nn.MaxPool2d(3, 2, ceil_mode=True)

    return nn.Sequential(
        nn.Conv2d(3, 96, 7, 2),
        nn.ReLU(inplace=True),
        pool(),
        fire(96, 16, 64),
        fire(128, 16, 64),
        fire(128, 32, 128),
        pool(),
        fire(256, 32, 128),
        fire(256, 48, 192),
        fire(384, 48, 192),
        fire(384, 64, 256),
        pool(),
        fire(512, 64, 256),
        nn.Dropout(0.5),
        nn.Conv2d(512, num_classes, 1),
        nn.ReLU(inplace=True),
        global_pool(),
    )


# -- MobileNetV2 1.0 ----------------------------------------------------------------------------------
def mobilenetv2(num_classes: int = 1000) -> Any:
    # (expansion t, channels c, blocks n, stride s): the paper's Table 2
    table = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
    layers: list[Any] = [conv_bn(3, 32, 3, 2, act="relu6")]
    cin = 32
    for t, c, n, s in table:
        for i in range(n):
            layers.append(_InvertedResidual.make(cin, c, s if i == 0 else 1, t))
            cin = c
    layers.append(conv_bn(cin, 1280, 1, act="relu6"))
    return nn.Sequential(*layers, _head(1280, num_classes, 0.2))


# -- MnasNet 1.0 (B1) ---------------------------------------------------------------------------------
def mnasnet(num_classes: int = 1000) -> Any:
    class MBConv(nn.Module):
        def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
            super().__init__()
            mid = cin * expand
            self.body = nn.Sequential(
                conv_bn(cin, mid, 1), conv_bn(mid, mid, k, stride, groups=mid), conv_bn(mid, cout, 1, act=None)
            )
            self.residual = stride == 1 and cin == cout

        def forward(self, x: Any) -> Any:
            return x + self.body(x) if self.residual else self.body(x)

    layers: list[Any] = [conv_bn(3, 32, 3, 2), conv_bn(32, 32, 3, groups=32), conv_bn(32, 16, 1, act=None)]
    cin = 16
    # (channels, kernel, stride, expansion, repeats): torchvision's mnasnet1_0 stacks
    for c, k, s, t, n in (
        (24, 3, 2, 3, 3),
        (40, 5, 2, 3, 3),
        (80, 5, 2, 6, 3),
        (96, 3, 1, 6, 2),
        (192, 5, 2, 6, 4),
        (320, 3, 1, 6, 1),
    ):
        for i in range(n):
            layers.append(MBConv(cin, c, k, s if i == 0 else 1, t))
            cin = c
    layers.append(conv_bn(cin, 1280, 1))
    return nn.Sequential(*layers, _head(1280, num_classes, 0.2))


def seeded(model: Any, seed: int) -> Any:
    """Initialise ``model`` from ``seed`` so its activations stay in range for fp16 and int8 without
    training: He-normal convolutions (fan in: the forward pass keeps its variance, which is what
    inference sees), unit BatchNorms, N(0, 0.01) classifiers, and the last
    BatchNorm of each residual branch at 0.2 so residual sums do not double the scale per block.
    Values come from numpy's PCG64 generator, scalar code whose stream is the same on every CPU (torch's
    vectorised ``randn`` picks kernels by instruction set), so the artifacts' bytes can be locked."""
    rng = np.random.default_rng(seed)

    def normal(shape: Any, std: float) -> Any:
        return torch.from_numpy(rng.standard_normal(tuple(shape), dtype=np.float32) * np.float32(std))

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
                fan_in = m.in_channels * math.prod(m.kernel_size) // m.groups
                m.weight.copy_(normal(m.weight.shape, (2.0 / fan_in) ** 0.5))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.copy_(normal(m.weight.shape, 0.01))
                if m.bias is not None:  # Llama's projections have none
                    m.bias.zero_()
            elif isinstance(m, nn.Embedding):  # BERT's initialiser, which keeps every sum of embeddings small
                m.weight.copy_(normal(m.weight.shape, 0.02))
            elif isinstance(m, nn.LSTM):  # torch's own range, U(-1/sqrt(hidden), 1/sqrt(hidden)), drawn by numpy
                bound = m.hidden_size**-0.5
                for w in m.parameters():
                    w.copy_(torch.from_numpy(rng.uniform(-bound, bound, tuple(w.shape)).astype(np.float32)))
        for m in model.modules():
            body = getattr(m, "body", None)
            if getattr(m, "residual", False) and isinstance(body, nn.Sequential):
                norms = [b for b in body.modules() if isinstance(b, (nn.BatchNorm2d, nn.BatchNorm3d))]
                norms[-1].weight.fill_(0.2)
    return model.eval()


FAMILIES = {
    "resnet50": resnet50,
    "inceptionv3": inceptionv3,
    "densenet121": densenet121,
    "squeezenet1_0": squeezenet,
    "mobilenetv2_1_0": mobilenetv2,
    "mnasnet1_0": mnasnet,
}
