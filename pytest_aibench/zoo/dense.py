"""Compact networks for the dense vision tasks, each ending in the raw tensor its task decodes.

- ``centernet``: a CenterNet-style detector (Zhou et al. 2019): per-class centre heatmaps, sub-cell
  offsets and log box sizes at stride 4, one tensor (N, classes + 4, H/4, W/4);
- ``unet``: a small U-Net segmenter, class logits at full resolution (N, classes, H, W);
- ``lanenet``: row-anchor lane detection (Ultra-Fast-Lane-Detection style, Qin et al. 2020): for each
  lane slot and row, logits over ``cells`` column cells plus "absent", (N, lanes, rows, cells + 1);
- ``espcn``: ESPCN super-resolution (Shi et al. 2016) with a sub-pixel (PixelShuffle) output, RGB;
- ``posenet``: a simple-baselines-style pose network (Xiao et al. 2018): keypoint heatmaps at stride 2.

Plain conv-BN-ReLU, nearest upsampling and concatenation only, so every exporter (ONNX, LiteRT,
their int8 quantizers) takes them. torch is imported on first build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy
from pytest_aibench.zoo.families import conv_bn

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy("torch")
    nn = lazy("torch.nn")


def _encoder(cin: int, w: int) -> tuple[Any, ...]:
    """Stages at strides 1, 2, 4, 8 with w, 2w, 4w, 4w channels."""
    return (
        nn.Sequential(conv_bn(cin, w, 3), conv_bn(w, w, 3)),
        nn.Sequential(conv_bn(w, 2 * w, 3, 2), conv_bn(2 * w, 2 * w, 3)),
        nn.Sequential(conv_bn(2 * w, 4 * w, 3, 2), conv_bn(4 * w, 4 * w, 3)),
        nn.Sequential(conv_bn(4 * w, 4 * w, 3, 2), conv_bn(4 * w, 4 * w, 3)),
    )


def centernet(num_classes: int = 3, width: int = 16, in_channels: int = 3) -> Any:
    class CenterNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.s1, self.s2, self.s4, self.s8 = _encoder(in_channels, width)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.fuse = conv_bn(8 * width, 4 * width, 3)
            mid = conv_bn(4 * width, 4 * width, 3)
            out = nn.Conv2d(4 * width, num_classes + 4, 1)
            out.bias.data[:num_classes] = -2.19  # type: ignore[union-attr] # focal-loss prior: sigmoid = 0.1
            self.head = nn.Sequential(mid, out)

        def forward(self, x: Any) -> Any:
            f4 = self.s4(self.s2(self.s1(x)))
            f8 = self.s8(f4)
            return self.head(self.fuse(torch.cat([f4, self.up(f8)], 1)))

    return CenterNet()


def unet(num_classes: int = 4, width: int = 12, in_channels: int = 3) -> Any:
    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.s1, self.s2, self.s4, self.s8 = _encoder(in_channels, width)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.d4 = conv_bn(8 * width, 4 * width, 3)
            self.d2 = conv_bn(6 * width, 2 * width, 3)
            self.d1 = conv_bn(3 * width, width, 3)
            self.out = nn.Conv2d(width, num_classes, 1)

        def forward(self, x: Any) -> Any:
            f1 = self.s1(x)
            f2 = self.s2(f1)
            f4 = self.s4(f2)
            f8 = self.s8(f4)
            d4 = self.d4(torch.cat([f4, self.up(f8)], 1))
            d2 = self.d2(torch.cat([f2, self.up(d4)], 1))
            return self.out(self.d1(torch.cat([f1, self.up(d2)], 1)))

    return UNet()


def lanenet(
    lanes: int = 4,
    rows: int = 14,
    cells: int = 32,
    width: int = 16,
    in_channels: int = 3,
    side: int = 64,
    hidden: int = 256,
) -> Any:
    class LaneNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(*_encoder(in_channels, width), conv_bn(4 * width, 8, 1))
            feat = 8 * (side // 8) ** 2
            self.cls = nn.Sequential(
                nn.Linear(feat, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, lanes * rows * (cells + 1))
            )

        def forward(self, x: Any) -> Any:
            # flatten/unflatten, not reshape(-1, ...): converters keep the batch dimension symbolic
            return torch.unflatten(self.cls(torch.flatten(self.backbone(x), 1)), 1, (lanes, rows, cells + 1))

    return LaneNet()


def espcn(scale: int = 2, width: int = 32, in_channels: int = 3) -> Any:
    class ESPCN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(in_channels, 2 * width, 5, padding=2),
                nn.Tanh(),
                nn.Conv2d(2 * width, width, 3, padding=1),
                nn.Tanh(),
                nn.Conv2d(width, in_channels * scale**2, 3, padding=1),
            )
            self.shuffle = nn.PixelShuffle(scale)
            self.up = nn.Upsample(scale_factor=scale, mode="nearest")

        def forward(self, x: Any) -> Any:
            return self.up(x) + self.shuffle(self.body(x))  # a residual over nearest upsampling

    return ESPCN()


def posenet(keypoints: int = 5, width: int = 16, in_channels: int = 3) -> Any:
    class PoseNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.s1, self.s2, self.s4, self.s8 = _encoder(in_channels, width)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.d4 = conv_bn(8 * width, 4 * width, 3)
            self.d2 = conv_bn(6 * width, 2 * width, 3)
            self.out = nn.Conv2d(2 * width, keypoints, 1)

        def forward(self, x: Any) -> Any:
            f2 = self.s2(self.s1(x))
            f4 = self.s4(f2)
            d4 = self.d4(torch.cat([f4, self.up(self.s8(f4))], 1))
            return self.out(self.d2(torch.cat([f2, self.up(d4)], 1)))

    return PoseNet()
