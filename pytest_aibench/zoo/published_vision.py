"""Published-size vision networks of the Jetson and AIIA tables, written from their papers (no
torchvision, nothing downloaded), with seeded weights like :mod:`pytest_aibench.zoo.published`:
they measure latency, throughput, memory and effective GFLOP/s; quality is not applicable.

- VGG-19 (Simonyan & Zisserman 2014) and Inception-v4 (Szegedy et al. 2016), classifiers;
- YOLOv3 at 608 (Redmon & Farhadi 2018): Darknet-53 and three detection scales, 80 COCO classes, its
  raw outputs flattened to (N, boxes, 85) as exported detectors hand them to NMS;
- SSDLite with a MobileNetV2 backbone at 320 (Sandler et al. 2018, table 6), 91 COCO classes;
- DeepLabV3 with a MobileNetV2 backbone at 512 (Sandler et al. 2018, table 7: output stride 16,
  the ASPP-less head), 21 VOC classes;
- OpenPose at 256x456 (Cao et al. 2017): the VGG-19 front and six two-branch stages (19 heatmaps,
  38 part-affinity fields), outputs concatenated;
- FSRCNN x2 (Dong et al. 2016, d=56, s=12, m=4) on RGB at 481x321 (Jetson's super-resolution size).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy
from pytest_aibench.zoo.families import _InvertedResidual, conv_bn
from pytest_aibench.zoo.published import _basic, _Branches

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy("torch")
    nn = lazy("torch.nn")


#: zoo name -> ((channels, height, width), parameters, MACs (None: no published figure), task, source);
#: the lock (fixtures/models/published.lock.json) repeats these, and a test holds the two equal
PUBLISHED_VISION: dict[str, tuple[tuple[int, int, int], float, float | None, str | None, str]] = {
    "vgg19": (
        (3, 224, 224),
        143667000.0,
        19630000000.0,
        None,
        "Simonyan & Zisserman 2014 (arXiv:1409.1556), configuration E; torchvision vgg19 card: 143.67 M parameters, 19.63 GFLOPS (multiply-adds)",
    ),
    "inception_v4": (
        (3, 299, 299),
        42680000.0,
        12300000000.0,
        None,
        "Szegedy et al. 2016 (arXiv:1602.07261); timm inception_v4.tf_in1k card: 42.7 M parameters, 12.3 GMACs at 299",
    ),
    "yolov3_608": (
        (3, 608, 608),
        61950000.0,
        70350000000.0,
        "detection",
        "Redmon & Farhadi 2018 (arXiv:1804.02767), YOLOv3-608: 140.69 Bn FLOPs (Darknet counts a multiply-add as 2) and 61.95 M parameters (yolov3.cfg, 80 classes)",
    ),
    "ssdlite_mobilenetv2_320": (
        (3, 320, 320),
        4300000.0,
        800000000.0,
        "detection",
        "Sandler et al. 2018 (arXiv:1801.04381), table 6: MNetV2 + SSDLite at 320, 4.3 M parameters, 0.8 B MAdds",
    ),
    "deeplabv3_mobilenetv2_513": (
        (3, 513, 513),
        2110000.0,
        2750000000.0,
        "segmentation",
        "Sandler et al. 2018 (arXiv:1801.04381), table 7: MNetV2* DeepLabv3, output stride 16, no ASPP, 2.11 M parameters, 2.75 B MAdds (at DeepLab's 513 px crop)",
    ),
    "openpose_256x456": (
        (3, 256, 456),
        52310000.0,
        None,
        "pose",
        "Cao et al. 2017 (arXiv:1611.08050), the released COCO body model (VGG-19 front, 6 two-branch stages): 52.31 M parameters; Jetson benchmarks run it at 256x456",
    ),
    "fsrcnn_481x321": (
        (1, 321, 481),
        12464,
        None,
        "super_resolution",
        "Dong et al. 2016 (arXiv:1608.00367), FSRCNN(56, 12, 4) x2 on luma: 12,464 parameters (the paper leaves out PReLU slopes and biases); Jetson's super-resolution input 481x321",
    ),
}


# -- VGG-19 -------------------------------------------------------------------------------------------
def vgg19(num_classes: int = 1000) -> Any:
    layers: list[Any] = []
    cin = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            cin = int(v)
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )


# -- Inception-v4 -------------------------------------------------------------------------------------
def _seq(*convs: tuple) -> Any:
    return nn.Sequential(*(_basic(*c) for c in convs))


def _pool_proj(cin: int, cout: int) -> Any:
    return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), _basic(cin, cout, 1))


def inception_v4(num_classes: int = 1000) -> Any:
    inc_a = lambda: _Branches.make(  # noqa: E731
        _basic(384, 96, 1),
        _seq((384, 64, 1), (64, 96, 3, 1, 1)),
        _seq((384, 64, 1), (64, 96, 3, 1, 1), (96, 96, 3, 1, 1)),
        _pool_proj(384, 96),
    )
    inc_b = lambda: _Branches.make(  # noqa: E731
        _basic(1024, 384, 1),
        _seq((1024, 192, 1), (192, 224, (1, 7), 1, (0, 3)), (224, 256, (7, 1), 1, (3, 0))),
        _seq(
            (1024, 192, 1),
            (192, 192, (7, 1), 1, (3, 0)),
            (192, 224, (1, 7), 1, (0, 3)),
            (224, 224, (7, 1), 1, (3, 0)),
            (224, 256, (1, 7), 1, (0, 3)),
        ),
        _pool_proj(1024, 128),
    )

    class IncC(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.b0 = _basic(1536, 256, 1)
            self.b1, self.b1a, self.b1b = (
                _basic(1536, 384, 1),
                _basic(384, 256, (1, 3), 1, (0, 1)),
                _basic(384, 256, (3, 1), 1, (1, 0)),
            )
            self.b2 = _seq((1536, 384, 1), (384, 448, (3, 1), 1, (1, 0)), (448, 512, (1, 3), 1, (0, 1)))
            self.b2a, self.b2b = _basic(512, 256, (1, 3), 1, (0, 1)), _basic(512, 256, (3, 1), 1, (1, 0))
            self.b3 = _pool_proj(1536, 256)

        def forward(self, x: Any) -> Any:
            b1, b2 = self.b1(x), self.b2(x)
            return torch.cat([self.b0(x), self.b1a(b1), self.b1b(b1), self.b2a(b2), self.b2b(b2), self.b3(x)], 1)

    stem = [
        _basic(3, 32, 3, 2),
        _basic(32, 32, 3),
        _basic(32, 64, 3, 1, 1),
        _Branches.make(nn.MaxPool2d(3, 2), _basic(64, 96, 3, 2)),
        _Branches.make(
            _seq((160, 64, 1), (64, 96, 3)),
            _seq((160, 64, 1), (64, 64, (1, 7), 1, (0, 3)), (64, 64, (7, 1), 1, (3, 0)), (64, 96, 3)),
        ),
        _Branches.make(_basic(192, 192, 3, 2), nn.MaxPool2d(3, 2)),
    ]
    red_a = _Branches.make(
        _basic(384, 384, 3, 2), _seq((384, 192, 1), (192, 224, 3, 1, 1), (224, 256, 3, 2)), nn.MaxPool2d(3, 2)
    )
    red_b = _Branches.make(
        _seq((1024, 192, 1), (192, 192, 3, 2)),
        _seq((1024, 256, 1), (256, 256, (1, 7), 1, (0, 3)), (256, 320, (7, 1), 1, (3, 0)), (320, 320, 3, 2)),
        nn.MaxPool2d(3, 2),
    )

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(1536, num_classes)

        def forward(self, x: Any) -> Any:
            return self.fc(x.mean((2, 3)))

    return nn.Sequential(
        *stem,
        *(inc_a() for _ in range(4)),
        red_a,
        *(inc_b() for _ in range(7)),
        red_b,
        *(IncC() for _ in range(3)),
        Head(),
    )


# -- YOLOv3 -------------------------------------------------------------------------------------------
def _dk(cin: int, cout: int, k: int, s: int = 1) -> Any:
    """Darknet's convolution: no bias, batch norm, leaky ReLU 0.1."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1, inplace=True)
    )


def yolov3(num_classes: int = 80) -> Any:
    class Res(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.body = nn.Sequential(_dk(c, c // 2, 1), _dk(c // 2, c, 3))
            self.residual = True

        def forward(self, x: Any) -> Any:
            return x + self.body(x)

    def stage(cin: int, cout: int, blocks: int) -> Any:
        return nn.Sequential(_dk(cin, cout, 3, 2), *(Res(cout) for _ in range(blocks)))

    def neck(cin: int, c: int) -> Any:  # five convolutions, 1x1 and 3x3 alternating
        return nn.Sequential(_dk(cin, c, 1), _dk(c, 2 * c, 3), _dk(2 * c, c, 1), _dk(c, 2 * c, 3), _dk(2 * c, c, 1))

    out = 3 * (num_classes + 5)

    class YOLOv3(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.s8 = nn.Sequential(_dk(3, 32, 3), stage(32, 64, 1), stage(64, 128, 2), stage(128, 256, 8))
            self.s16, self.s32 = stage(256, 512, 8), stage(512, 1024, 4)
            self.n32, self.n16, self.n8 = neck(1024, 512), neck(768, 256), neck(384, 128)
            self.h32 = nn.Sequential(_dk(512, 1024, 3), nn.Conv2d(1024, out, 1))
            self.h16 = nn.Sequential(_dk(256, 512, 3), nn.Conv2d(512, out, 1))
            self.h8 = nn.Sequential(_dk(128, 256, 3), nn.Conv2d(256, out, 1))
            self.l32, self.l16 = _dk(512, 256, 1), _dk(256, 128, 1)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")

        def forward(self, x: Any) -> Any:
            f8 = self.s8(x)
            f16 = self.s16(f8)
            n32 = self.n32(self.s32(f16))
            n16 = self.n16(torch.cat([self.up(self.l32(n32)), f16], 1))
            n8 = self.n8(torch.cat([self.up(self.l16(n16)), f8], 1))
            heads = [self.h32(n32), self.h16(n16), self.h8(n8)]
            n = x.shape[0]
            return torch.cat(
                [
                    h.reshape(n, 3, num_classes + 5, -1).permute(0, 1, 3, 2).reshape(n, -1, num_classes + 5)
                    for h in heads
                ],
                1,
            )

    return YOLOv3()


# -- MobileNetV2 backbone, SSDLite, DeepLabV3 ----------------------------------------------------------
_MNV2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _mnv2_blocks(dilate_last: bool = False) -> list[Any]:
    layers: list[Any] = [conv_bn(3, 32, 3, 2, act="relu6")]
    cin = 32
    for t, c, n, s in _MNV2:
        for i in range(n):
            stride = s if i == 0 else 1
            if dilate_last and c in (160, 320):
                stride = 1  # output stride 16: the last stride traded for dilation (DeepLabV3)
            layers.append(_InvertedResidual.make(cin, c, stride, t))
            cin = c
    return layers


def _sep(cin: int, cout: int, s: int = 1) -> Any:
    """SSDLite's separable convolution: depthwise 3x3 + BN + ReLU6, then a 1x1 projection."""
    return nn.Sequential(conv_bn(cin, cin, 3, s, groups=cin, act="relu6"), nn.Conv2d(cin, cout, 1))


def ssdlite_mobilenetv2(num_classes: int = 91) -> Any:
    anchors = (3, 6, 6, 6, 6, 6)

    class SSDLite(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            blocks = _mnv2_blocks()
            self.to16 = nn.Sequential(*blocks[:14])  # through the 96-channel stage: stride 16
            # the first feature map is the next block's 576-channel expansion (TF's layer_15/expansion_output)
            self.expand = blocks[14].body[0]
            self.rest14 = nn.Sequential(*blocks[14].body[1:])
            self.to32 = nn.Sequential(*blocks[15:], conv_bn(320, 1280, 1, act="relu6"))
            extra = []
            for cin, cout in ((1280, 512), (512, 256), (256, 256), (256, 128)):
                extra.append(
                    nn.Sequential(
                        conv_bn(cin, cout // 2, 1, act="relu6"),
                        conv_bn(cout // 2, cout // 2, 3, 2, groups=cout // 2, act="relu6"),
                        conv_bn(cout // 2, cout, 1, act="relu6"),
                    )
                )
            self.extra = nn.ModuleList(extra)
            chans = (576, 1280, 512, 256, 256, 128)
            self.cls = nn.ModuleList(_sep(c, a * num_classes) for c, a in zip(chans, anchors, strict=True))
            self.box = nn.ModuleList(_sep(c, a * 4) for c, a in zip(chans, anchors, strict=True))

        def forward(self, x: Any) -> Any:
            feats = [self.expand(self.to16(x))]
            feats.append(self.to32(self.rest14(feats[0])))
            for e in self.extra:
                feats.append(e(feats[-1]))
            n = x.shape[0]
            cls = torch.cat(
                [c(f).permute(0, 2, 3, 1).reshape(n, -1, num_classes) for c, f in zip(self.cls, feats, strict=True)], 1
            )
            box = torch.cat(
                [b(f).permute(0, 2, 3, 1).reshape(n, -1, 4) for b, f in zip(self.box, feats, strict=True)], 1
            )
            return torch.cat([box, cls], 2)

    return SSDLite()


def deeplabv3_mobilenetv2(num_classes: int = 21, side: int = 513) -> Any:
    """At DeepLab's 513 px crop (output stride 16: 33 x 33 features), logits resized back to the input."""

    class DeepLab(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(*_mnv2_blocks(dilate_last=True))
            self.pool = conv_bn(320, 256, 1)
            self.proj = conv_bn(320, 256, 1)
            self.fuse = conv_bn(512, 256, 1)
            self.out = nn.Conv2d(256, num_classes, 1)
            self.up = nn.Upsample(size=(side, side), mode="bilinear", align_corners=False)

        def forward(self, x: Any) -> Any:
            f = self.backbone(x)
            g = self.pool(f.mean((2, 3), keepdim=True)).expand(-1, -1, f.shape[2], f.shape[3])
            return self.up(self.out(self.fuse(torch.cat([self.proj(f), g], 1))))

    return DeepLab()


# -- OpenPose -----------------------------------------------------------------------------------------
def openpose(heatmaps: int = 19, pafs: int = 38, stages: int = 6) -> Any:
    def relu_conv(cin: int, cout: int, k: int) -> Any:
        return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True))

    def branch(cin: int, out: int, first: bool) -> Any:
        if first:
            body = [relu_conv(cin, 128, 3), relu_conv(128, 128, 3), relu_conv(128, 128, 3), relu_conv(128, 512, 1)]
            return nn.Sequential(*body, nn.Conv2d(512, out, 1))
        body = [relu_conv(cin, 128, 7), *(relu_conv(128, 128, 7) for _ in range(4)), relu_conv(128, 128, 1)]
        return nn.Sequential(*body, nn.Conv2d(128, out, 1))

    class OpenPose(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            vgg: list[Any] = []
            cin = 3
            for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512):
                if v == "M":
                    vgg.append(nn.MaxPool2d(2, 2))
                else:
                    vgg.append(relu_conv(cin, int(v), 3))
                    cin = int(v)
            self.front = nn.Sequential(*vgg, relu_conv(512, 256, 3), relu_conv(256, 128, 3))
            feed = 128 + pafs + heatmaps
            self.paf = nn.ModuleList(branch(128 if s == 0 else feed, pafs, s == 0) for s in range(stages))
            self.heat = nn.ModuleList(branch(128 if s == 0 else feed, heatmaps, s == 0) for s in range(stages))

        def forward(self, x: Any) -> Any:
            f = self.front(x)
            h = f
            for paf, heat in zip(self.paf, self.heat, strict=True):
                out = torch.cat([paf(h), heat(h)], 1)
                h = torch.cat([out, f], 1)
            return out

    return OpenPose()


# -- FSRCNN -------------------------------------------------------------------------------------------
def fsrcnn(scale: int = 2, d: int = 56, s: int = 12, m: int = 4, channels: int = 1) -> Any:
    """On the luma channel, as the paper (its 12,464 parameters leave out the PReLU slopes and biases)."""
    layers: list[Any] = [nn.Conv2d(channels, d, 5, padding=2), nn.PReLU(d), nn.Conv2d(d, s, 1), nn.PReLU(s)]
    for _ in range(m):
        layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
    layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
    return nn.Sequential(*layers, nn.ConvTranspose2d(d, channels, 9, scale, 4, output_padding=scale - 1))
