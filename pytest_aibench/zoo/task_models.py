"""Compact networks for the non-image tasks: a siamese embedder (face verification), NeuMF (NCF's
recommender) and a small 3D CNN (action recognition on clips). Each takes one float tensor, as every
runner feeds one: ids travel as floats and are cast inside the graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy("torch")
    nn = lazy("torch.nn")


def _conv(cin: int, cout: int, stride: Any = 1) -> Any:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def siamese(width: int = 16, embedding: int = 64, in_channels: int = 3) -> Any:
    """(N, 2 x C, H, W) photo pairs -> (N, 2 x embedding): one shared CNN embeds each photo."""

    class Siamese(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.body = nn.Sequential(
                _conv(in_channels, w), _conv(w, 2 * w, 2), _conv(2 * w, 2 * w), _conv(2 * w, 4 * w, 2),
                _conv(4 * w, 4 * w), _conv(4 * w, 8 * w, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            )  # fmt: skip
            self.head = nn.Linear(8 * w, embedding)

        def forward(self, x: Any) -> Any:
            n = x.shape[0]
            photos = torch.cat([x[:, :in_channels], x[:, in_channels:]], dim=0)  # both photos in one batch
            e = self.head(self.body(photos))
            return torch.cat([e[:n], e[n:]], dim=1)

    return Siamese()


def ncf(users: int = 300, items: int = 400, factors: int = 16, layers: tuple[int, ...] = (64, 32, 16)) -> Any:
    """NeuMF (He et al., 2017): GMF and an MLP over user and item embeddings, fused by one linear layer.
    (N, candidates, 2) rows of (user id, item id) -> (N, candidates) click logits."""

    class NeuMF(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gmf_user, self.gmf_item = nn.Embedding(users, factors), nn.Embedding(items, factors)
            self.mlp_user, self.mlp_item = nn.Embedding(users, layers[0] // 2), nn.Embedding(items, layers[0] // 2)
            mlp: list[Any] = []
            for a, b in zip(layers[:-1], layers[1:], strict=True):
                mlp += [nn.Linear(a, b), nn.ReLU()]
            self.mlp = nn.Sequential(*mlp)
            self.out = nn.Linear(factors + layers[-1], 1)
            for e in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
                nn.init.normal_(e.weight, std=0.01)

        def forward(self, x: Any) -> Any:
            u, i = x[..., 0].long(), x[..., 1].long()
            gmf = self.gmf_user(u) * self.gmf_item(i)
            mlp = self.mlp(torch.cat([self.mlp_user(u), self.mlp_item(i)], dim=-1))
            return self.out(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    return NeuMF()


def r21d(num_classes: int = 8, width: int = 12, in_channels: int = 3) -> Any:
    """A small R(2+1)D network over (N, C, T, H, W) clips (Tran et al. 2018's factorisation): each block a
    spatial 3x3 convolution on every frame, then a temporal 3x1 one along time, both 2D convolutions, so
    every runtime has integer kernels for them (LiteRT has none for CONV_3D); then global pooling."""

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, space: int, time: int) -> None:
            super().__init__()
            self.spatial = nn.Sequential(nn.Conv2d(cin, cout, 3, space, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
            self.temporal = nn.Sequential(
                nn.Conv2d(cout, cout, (3, 1), (time, 1), (1, 0), bias=False), nn.BatchNorm2d(cout), nn.ReLU()
            )

        def forward(self, x: Any) -> Any:
            n, c, t, h, w = x.shape
            y = self.spatial(x.transpose(1, 2).reshape(n * t, c, h, w))  # every frame, as images
            c2, h2, w2 = y.shape[1], y.shape[2], y.shape[3]
            y = self.temporal(y.reshape(n, t, c2, h2 * w2).transpose(1, 2))  # (N, C, T, H*W): along time
            return y.reshape(n, c2, y.shape[2], h2, w2)

    class R21D(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width  # the first block halves the frames' size, not their count: motion lives in time
            self.blocks = nn.Sequential(
                Block(in_channels, w, 2, 1), Block(w, 2 * w, 1, 1), Block(2 * w, 2 * w, 2, 2), Block(2 * w, 4 * w, 2, 2)
            )
            self.head = nn.Linear(4 * w, num_classes)

        def forward(self, x: Any) -> Any:
            return self.head(self.blocks(x).mean(dim=(2, 3, 4)))

    return R21D()


def dscnn(num_classes: int = 10, width: int = 64, blocks: int = 4) -> Any:
    """MLPerf Tiny's keyword-spotting DS-CNN: (N, frames, bands) log-mel -> a strided 10x4 convolution,
    depthwise-separable blocks, average pooling, a linear head."""

    class DSCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[Any] = [
                nn.Conv2d(1, width, (10, 4), (2, 2), (5, 1), bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            for _ in range(blocks):
                layers += [
                    nn.Conv2d(width, width, 3, 1, 1, groups=width, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                    nn.Conv2d(width, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                ]  # fmt: skip
            self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Linear(width, num_classes)

        def forward(self, x: Any) -> Any:
            return self.head(self.body(x.unsqueeze(1)))

    return DSCNN()


def ctc_conv(symbols: int = 29, bands: int = 40, width: int = 128, blocks: int = 5, kernel: int = 11) -> Any:
    """A QuartzNet-style acoustic model: (N, frames, bands) log-mel -> a stride-2 1D convolution and
    time-channel separable blocks with residuals -> (N, frames / 2, symbols) CTC logits (blank = 0)."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.f = nn.Sequential(
                nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=width, bias=False),
                nn.Conv1d(width, width, 1, bias=False), nn.BatchNorm1d(width),
            )  # fmt: skip

        def forward(self, x: Any) -> Any:
            return torch.relu(x + self.f(x))

    class CTCConv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv1d(bands, width, kernel, 2, kernel // 2, bias=False), nn.BatchNorm1d(width), nn.ReLU()
            )
            self.blocks = nn.Sequential(*[Block() for _ in range(blocks)])
            self.head = nn.Conv1d(width, symbols, 1)

        def forward(self, x: Any) -> Any:
            return self.head(self.blocks(self.stem(x.transpose(1, 2)))).transpose(1, 2)

    return CTCConv()


def encoder(
    vocab: int = 141,
    length: int = 48,
    outputs: int = 2,
    width: int = 64,
    heads: int = 4,
    layers: int = 2,
    pool: bool = False,
) -> Any:
    """A small Transformer encoder over word ids (N, length) -> per-token logits (N, length, outputs):
    span start/end for QA, target words for non-autoregressive translation; with ``pool``, the mean
    over the words (padding, id 0, left out) -> (N, outputs) class logits for text classification."""

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words = nn.Embedding(vocab, width, padding_idx=0)
            self.position = nn.Parameter(torch.zeros(1, length, width))
            nn.init.normal_(self.position, std=0.02)
            layer = nn.TransformerEncoderLayer(width, heads, 2 * width, 0.1, batch_first=True, norm_first=True)
            self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Linear(width, outputs)

        def forward(self, x: Any) -> Any:
            ids = x.long()
            h = self.body(self.words(ids) + self.position[:, : ids.shape[1]])
            if pool:
                words = (ids > 0).unsqueeze(-1).float()
                h = (h * words).sum(1) / words.sum(1).clamp(min=1.0)
            return self.head(h)

    return Encoder()
