"""The six AIoTBench CNN families, compact, each built from its family's real block.

ResNet (bottleneck residual), Inception (inception modules with factorised 5x5 and asymmetric
1xn/nx1 convolutions), DenseNet (dense blocks + transitions), SqueezeNet (fire modules, conv
classifier), MobileNetV2 (inverted residuals, linear bottlenecks), MnasNet (MBConv with 3x3/5x5
kernels and squeeze-excitation). ``width`` scales channels, ``depth`` scales blocks per stage; all
end in global average pooling, so any input resolution works. torch is imported on first build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy("torch")
    nn = lazy("torch.nn")


def _c(channels: float, width: float, divisor: int = 4) -> int:
    """Channels scaled by ``width``, rounded to a multiple of ``divisor`` (at least ``divisor``)."""
    return max(divisor, int(channels * width + divisor / 2) // divisor * divisor)


def _n(blocks: int, depth: float) -> int:
    return max(1, round(blocks * depth))


def conv_bn(
    cin: int, cout: int, k: int | tuple[int, int] = 3, s: int = 1, groups: int = 1, act: str | None = "relu"
) -> Any:
    pad: int | tuple[int, int] = (k - 1) // 2 if isinstance(k, int) else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    layers = [nn.Conv2d(cin, cout, k, s, pad, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "relu6":
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def global_pool(keepdim: bool = False) -> Any:
    """Global average pooling as a plain mean: no reshape, so exporters keep batch and resolution
    dynamic (AdaptiveAvgPool2d + Flatten makes LiteRT's converter fix them)."""

    class GlobalAvgPool(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.mean((2, 3), keepdim=keepdim)

    return GlobalAvgPool()


def _head(cin: int, num_classes: int, dropout: float = 0.0) -> Any:
    return nn.Sequential(global_pool(), nn.Dropout(dropout), nn.Linear(cin, num_classes))


# -- ResNet: bottleneck residual blocks ---------------------------------------------------------------
def resnet(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, depth: float = 1.0) -> Any:

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin: int, mid: int, stride: int):
            super().__init__()
            cout = mid * self.expansion
            self.body = nn.Sequential(
                conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, stride), conv_bn(mid, cout, 1, act=None)
            )
            self.short = nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, act=None)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x: Any) -> Any:
            return self.relu(self.body(x) + self.short(x))

    stem = _c(32, width)
    layers: list[Any] = [conv_bn(in_channels, stem, 3)]
    cin = stem
    for mid, blocks, stride in ((16, 2, 1), (32, 2, 2), (64, 2, 2)):  # ResNet50's [3,4,6,3], scaled
        m = _c(mid, width)
        for i in range(_n(blocks, depth)):
            layers.append(Bottleneck(cin, m, stride if i == 0 else 1))
            cin = m * Bottleneck.expansion
    return nn.Sequential(*layers, _head(cin, num_classes))


# -- Inception: parallel branches concatenated ------------------------------------------------------
def inception(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, depth: float = 1.0) -> Any:
    class ModuleA(nn.Module):
        """1x1 | 1x1-3x3 | 1x1-3x3-3x3 (a factorised 5x5) | avgpool-1x1, concatenated."""

        def __init__(self, cin: int, b: int):
            super().__init__()
            self.b1 = conv_bn(cin, b, 1)
            self.b3 = nn.Sequential(conv_bn(cin, b, 1), conv_bn(b, b, 3))
            self.b5 = nn.Sequential(conv_bn(cin, b, 1), conv_bn(b, b, 3), conv_bn(b, b, 3))
            self.bp = nn.Sequential(nn.AvgPool2d(3, 1, 1), conv_bn(cin, b, 1))
            self.out = 4 * b

        def forward(self, x: Any) -> Any:
            return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)

    class ModuleB(nn.Module):
        """InceptionV3's asymmetric factorisation: 1x1 | 1x1-1x3-3x1 | avgpool-1x1."""

        def __init__(self, cin: int, b: int):
            super().__init__()
            self.b1 = conv_bn(cin, b, 1)
            self.b7 = nn.Sequential(conv_bn(cin, b, 1), conv_bn(b, b, (1, 3)), conv_bn(b, b, (3, 1)))
            self.bp = nn.Sequential(nn.AvgPool2d(3, 1, 1), conv_bn(cin, b, 1))
            self.out = 3 * b

        def forward(self, x: Any) -> Any:
            return torch.cat([self.b1(x), self.b7(x), self.bp(x)], 1)

    class Reduction(nn.Module):
        """Grid reduction: a strided 3x3 branch beside a max-pool, concatenated."""

        def __init__(self, cin: int, b: int):
            super().__init__()
            self.conv = conv_bn(cin, b, 3, 2)
            self.pool = nn.MaxPool2d(3, 2, 1)
            self.out = cin + b

        def forward(self, x: Any) -> Any:
            return torch.cat([self.conv(x), self.pool(x)], 1)

    cin = _c(32, width)
    layers: list[Any] = [conv_bn(in_channels, cin, 3)]
    for kind, b in (("A", 12), ("R", 24), ("A", 16), ("R", 32), ("B", 24)):
        repeat = 1 if kind == "R" else _n(1, depth)
        for _ in range(repeat):
            block: Any = {"A": ModuleA, "B": ModuleB, "R": Reduction}[kind](cin, _c(b, width))
            layers.append(block)
            cin = int(block.out)
    return nn.Sequential(*layers, _head(cin, num_classes))


# -- DenseNet: every layer sees all earlier feature maps --------------------------------------------
def dense_layer(cin: int, growth: int) -> Any:
    """DenseNet's pre-activation bottleneck (BN-ReLU-1x1 to 4 x growth, BN-ReLU-3x3 to growth), its output
    concatenated to its input (the published DenseNet121 uses it too)."""

    class DenseLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.BatchNorm2d(cin),
                nn.ReLU(inplace=True),
                nn.Conv2d(cin, 4 * growth, 1, bias=False),
                nn.BatchNorm2d(4 * growth),
                nn.ReLU(inplace=True),
                nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False),
            )

        def forward(self, x: Any) -> Any:
            return torch.cat([x, self.body(x)], 1)

    return DenseLayer()


def densenet(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, depth: float = 1.0) -> Any:
    growth = _c(12, width)
    cin = 2 * growth
    layers: list[Any] = [nn.Conv2d(in_channels, cin, 3, 1, 1, bias=False)]
    blocks = (4, 4, 4)  # DenseNet121's (6, 12, 24, 16), scaled
    for i, n in enumerate(blocks):
        for _ in range(_n(n, depth)):
            layers.append(dense_layer(cin, growth))
            cin += growth
        if i < len(blocks) - 1:  # transition: compress by half, pool
            out = cin // 2
            layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, out, 1, bias=False), nn.AvgPool2d(2)]
            cin = out
    layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, _head(cin, num_classes))


# -- SqueezeNet: fire modules and a convolutional classifier ----------------------------------------
def squeezenet(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, depth: float = 1.0) -> Any:
    class Fire(nn.Module):
        def __init__(self, cin: int, squeeze: int, expand: int):
            super().__init__()
            self.squeeze = conv_bn(cin, squeeze, 1)
            self.e1 = conv_bn(squeeze, expand, 1)
            self.e3 = conv_bn(squeeze, expand, 3)
            self.out = 2 * expand

        def forward(self, x: Any) -> Any:
            s = self.squeeze(x)
            return torch.cat([self.e1(s), self.e3(s)], 1)

    cin = _c(48, width)
    layers: list[Any] = [conv_bn(in_channels, cin, 3)]
    for squeeze, expand, pool_after in (
        (8, 32, False),
        (8, 32, True),
        (16, 64, False),
        (16, 64, True),
        (24, 96, False),
    ):
        for _ in range(_n(1, depth)):
            fire = Fire(cin, _c(squeeze, width), _c(expand, width))
            layers.append(fire)
            cin = fire.out
        if pool_after:
            layers.append(nn.MaxPool2d(3, 2, 1))
    classifier = nn.Sequential(nn.Dropout(0.2), nn.Conv2d(cin, num_classes, 1), nn.ReLU(inplace=True), global_pool())
    return nn.Sequential(*layers, classifier)


# -- MobileNetV2: inverted residuals with linear bottlenecks ----------------------------------------
class _InvertedResidual:
    """Factory for MobileNetV2's block (MnasNet's MBConv adds kernel choice and squeeze-excitation)."""

    @staticmethod
    def make(cin: int, cout: int, stride: int, expand: int, k: int = 3, se: bool = False) -> Any:

        class SqueezeExcite(nn.Module):
            def __init__(self, c: int):
                super().__init__()
                r = max(4, c // 4)
                self.gate = nn.Sequential(
                    global_pool(keepdim=True),
                    nn.Conv2d(c, r, 1),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(r, c, 1),
                    nn.Sigmoid(),
                )

            def forward(self, x: Any) -> Any:
                return x * self.gate(x)

        class Block(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                mid = cin * expand
                layers: list[Any] = [] if expand == 1 else [conv_bn(cin, mid, 1, act="relu6")]
                layers.append(conv_bn(mid, mid, k, stride, groups=mid, act="relu6"))  # depthwise
                if se:
                    layers.append(SqueezeExcite(mid))
                layers.append(conv_bn(mid, cout, 1, act=None))  # linear bottleneck
                self.body = nn.Sequential(*layers)
                self.residual = stride == 1 and cin == cout

            def forward(self, x: Any) -> Any:
                return x + self.body(x) if self.residual else self.body(x)

        return Block()


def _mbnet(
    config: tuple,
    stem: int,
    last: int,
    num_classes: int,
    in_channels: int,
    width: float,
    depth: float,
    sep_first: bool = False,
) -> Any:
    cin = _c(stem, width, 8)
    layers: list[Any] = [conv_bn(in_channels, cin, 3, 1, act="relu6")]
    if sep_first:  # MnasNet: a separable conv before the MBConv stages
        out = _c(stem // 2, width, 8)
        layers += [conv_bn(cin, cin, 3, 1, groups=cin, act="relu6"), conv_bn(cin, out, 1, act=None)]
        cin = out
    for expand, c, n, s, k, se in config:
        cout = _c(c, width, 8)
        for i in range(_n(n, depth)):
            layers.append(_InvertedResidual.make(cin, cout, s if i == 0 else 1, expand, k, se))
            cin = cout
    out = _c(last, max(1.0, width), 8)
    layers.append(conv_bn(cin, out, 1, act="relu6"))
    return nn.Sequential(*layers, _head(out, num_classes, 0.2))


def mobilenetv2(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, depth: float = 1.0) -> Any:
    # (expansion, channels, blocks, stride, kernel, squeeze-excite): MobileNetV2's table, trimmed for 32x32 inputs
    config = (
        (1, 16, 1, 1, 3, False),
        (6, 24, 2, 1, 3, False),
        (6, 32, 3, 2, 3, False),
        (6, 64, 2, 2, 3, False),
        (6, 96, 1, 1, 3, False),
    )
    return _mbnet(config, 32, 256, num_classes, in_channels, width, depth)


def mnasnet(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, depth: float = 1.0) -> Any:
    # MnasNet-A1's searched blocks: 3x3 and 5x5 MBConv, expansion 3 or 6, squeeze-excitation in some stages
    config = (
        (6, 24, 2, 1, 3, False),
        (3, 40, 2, 2, 5, True),
        (6, 80, 2, 2, 3, False),
        (6, 96, 1, 1, 3, True),
        (6, 112, 1, 1, 5, True),
    )
    return _mbnet(config, 32, 256, num_classes, in_channels, width, depth, sep_first=True)
