"""Published-size networks of the speech, language, recommendation and video benchmarks (AIIA, MLPerf,
Edge AI Bench), written from their papers and reference configurations (nothing downloaded), with
seeded weights like :mod:`pytest_aibench.zoo.published`: they measure latency, throughput, memory and
effective GFLOP/s; quality is not applicable.

- BERT-base and BERT-large (Devlin et al. 2019) with SQuAD's span head, at MLPerf's sequence 384;
- MobileBERT (Sun et al. 2020): bottlenecks, four stacked feed-forwards, NoNorm, trigram embeddings;
- RNN-T as MLPerf Inference's reference configures it: the encoder and each frame's first greedy step;
- NeuMF on MovieLens-20M as MLPerf's NCF reference configures it, and DLRM on Criteo Kaggle
  (MLPerf's small configuration, the DLRM benchmark's ``dlrm_s_criteo_kaggle`` architecture);
- R(2+1)D-18 (Tran et al. 2018) on 16 frames of 112x112 with Kinetics' 400 classes.

Every model takes one float32 tensor (ids are whole numbers, exact in float32 up to 2**24, the largest
vocabulary here being 10.1 M rows), so every runtime feeds it as it feeds an image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from pytest_aibench._lazy import lazy
from pytest_aibench.data import clicks
from pytest_aibench.zoo.task_models import ncf

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy("torch")
    nn = lazy("torch.nn")


class Published(NamedTuple):
    """A network's input, its published size, and where the figures come from."""

    input: tuple[int, ...]  #: one sample's shape
    layout: str
    params: float
    macs: float | None  #: None: no published figure (the item still counts its own)
    macs_input: tuple[int, ...] | None  #: the input the published MACs are for, where it is not ``input``
    task: str | None
    source: str


PUBLISHED_SEQ: dict[str, Published] = {
    "bert_base_384": Published(
        (384,),
        "NT",
        110e6,
        11.25e9,
        (128,),
        "question_answering",
        "Devlin et al. 2019 (arXiv:1810.04805): BERT-base 110 M parameters; Sun et al. 2020 (arXiv:2004.02984) "
        "table 5: 22.5 B FLOPs at sequence 128 (a multiply-add counted as 2); run at MLPerf's SQuAD length 384",
    ),
    "bert_large_384": Published(
        (384,),
        "NT",
        340e6,
        None,
        None,
        "question_answering",
        "Devlin et al. 2019 (arXiv:1810.04805): BERT-large 340 M parameters, MLPerf Inference's language model at "
        "sequence 384 with SQuAD's span head",
    ),
    "mobilebert_384": Published(
        (384,),
        "NT",
        25.3e6,
        None,
        None,
        "question_answering",
        "Sun et al. 2020 (arXiv:2004.02984) table 5: MobileBERT 25.3 M parameters; its 5.7 B FLOPs at sequence "
        "128 do not say how they count (2.69 G multiply-adds here, 5.39 B at 2 a MAC), so they are not held to "
        "5 %; the parameters equal transformers' MobileBertForQuestionAnswering at google/mobilebert-uncased's "
        "configuration exactly (24,582,914); MLPerf Mobile's language model, here at 384",
    ),
    "rnnt_mlperf": Published(
        (1498, 80),
        "NTC",
        45.3e6,
        None,
        None,
        "speech_recognition",
        "MLPerf Inference reference RNN-T (speech_recognition/rnnt, rnnt.toml): 80 log-mel bands spliced by 3, "
        "encoder of 2 + 3 LSTM layers of 1024 around a time stack of 2, prediction network of 2 LSTM layers "
        "of 320, joint of 512, 29 labels; the reference publishes this configuration, the figure is its count; "
        "15 s of audio (1,498 frames of 10 ms)",
    ),
    "ncf_ml20m": Published(
        (100, 2),
        "NTC",
        31.83e6,
        None,
        None,
        "recommendation",
        "MLPerf Training's NCF reference (NeuMF, He et al. 2017) on MovieLens-20M: 138,493 users, 26,744 items, "
        "64 factors, MLP 256-256-128-64; the reference publishes this configuration, the figure is its count",
    ),
    "dlrm_criteo_kaggle": Published(
        (39,),
        "NC",
        540e6,
        None,
        None,
        None,
        "Naumov et al. 2019 (arXiv:1906.00091), the Criteo Kaggle configuration (dlrm_s_criteo_kaggle.sh): 26 "
        "tables of dimension 16 (33.76 M rows), bottom MLP 13-512-256-64-16, top MLP 367-512-256-1: 540 M "
        "parameters, 2.2 GB in fp32",
    ),
    "r2plus1d_18": Published(
        (3, 16, 112, 112),
        "NCTHW",
        31.5e6,
        40.52e9,
        None,
        "action",
        "Tran et al. 2018 (arXiv:1711.11248), R(2+1)D-18; torchvision r2plus1d_18 KINETICS400_V1 card: "
        "31.5 M parameters, 40.52 GFLOPS (multiply-adds) on 16 frames of 112x112",
    ),
}


# -- BERT ---------------------------------------------------------------------------------------------
def _attention(q: Any, k: Any, v: Any, heads: int) -> Any:
    """Multi-head scaled dot-product attention written as matmuls (every runtime and FLOP counter sees them)."""
    n, t, _ = q.shape
    q, k, v = (a.reshape(n, t, heads, -1).transpose(1, 2) for a in (q, k, v))
    w = torch.softmax(q @ k.transpose(-1, -2) / float(q.shape[-1]) ** 0.5, dim=-1)
    return (w @ v).transpose(1, 2).reshape(n, t, -1)


def bert(hidden: int = 768, layers: int = 12, heads: int = 12, vocab: int = 30522, positions: int = 512) -> Any:
    """BERT's encoder with SQuAD's span head: (N, T) word ids -> (N, T, 2) start/end logits."""

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(hidden, hidden) for _ in range(4))
            self.norm1, self.norm2 = nn.LayerNorm(hidden, eps=1e-12), nn.LayerNorm(hidden, eps=1e-12)
            self.ffn = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden))

        def forward(self, h: Any) -> Any:
            h = self.norm1(h + self.o(_attention(self.q(h), self.k(h), self.v(h), heads)))
            return self.norm2(h + self.ffn(h))

    class Bert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words, self.position = nn.Embedding(vocab, hidden), nn.Embedding(positions, hidden)
            self.segment, self.norm = nn.Embedding(2, hidden), nn.LayerNorm(hidden, eps=1e-12)
            self.layers = nn.Sequential(*(Layer() for _ in range(layers)))
            self.span = nn.Linear(hidden, 2)

        def forward(self, x: Any) -> Any:
            ids = x.long()
            pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
            h = self.norm(self.words(ids) + self.position(pos) + self.segment(torch.zeros_like(ids)))
            return self.span(self.layers(h))

    return Bert()


def bert_large() -> Any:
    return bert(1024, 24, 16)


# -- MobileBERT ---------------------------------------------------------------------------------------
def mobilebert(hidden: int = 512, inner: int = 128, ffn: int = 512, layers: int = 24, heads: int = 4) -> Any:
    """MobileBERT (its uncased release's configuration) with SQuAD's span head."""

    class _NoNorm(nn.Module):
        """MobileBERT's replacement for LayerNorm: an element-wise affine map, no statistics."""

        def __init__(self, dim: int) -> None:
            super().__init__()
            self.weight, self.bias = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.zeros(dim))

        def forward(self, x: Any) -> Any:
            return x * self.weight + self.bias

    def dense(a: int, b: int) -> Any:
        return nn.Sequential(nn.Linear(a, b), _NoNorm(b))

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.into, self.shared = dense(hidden, inner), dense(hidden, inner)  # bottleneck; query/key's
            self.q, self.k, self.v = nn.Linear(inner, inner), nn.Linear(inner, inner), nn.Linear(hidden, inner)
            self.o = dense(inner, inner)
            self.ffns = nn.ModuleList(
                nn.ModuleList([nn.Linear(inner, ffn), dense(ffn, inner)]) for _ in range(4)
            )  # three stacked feed-forwards and the layer's own
            self.out = dense(inner, hidden)

        def forward(self, h: Any) -> Any:
            b, s = self.into(h), self.shared(h)
            a = self.o(_attention(self.q(s), self.k(s), self.v(h), heads)) + b
            for pair in self.ffns:
                up, down = pair[0], pair[1]  # type: ignore[index]
                a = down(torch.relu(up(a))) + a
            return self.out(a) + h

    class MobileBert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words, self.position = nn.Embedding(30522, inner), nn.Embedding(512, hidden)
            self.segment, self.norm = nn.Embedding(2, hidden), _NoNorm(hidden)
            self.trigram = nn.Linear(3 * inner, hidden)
            self.layers = nn.Sequential(*(Layer() for _ in range(layers)))
            self.span = nn.Linear(hidden, 2)

        def forward(self, x: Any) -> Any:
            ids = x.long()
            e = self.words(ids)
            nxt = torch.nn.functional.pad(e[:, 1:], (0, 0, 0, 1))
            prev = torch.nn.functional.pad(e[:, :-1], (0, 0, 1, 0))
            pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
            h = self.trigram(torch.cat([nxt, e, prev], -1)) + self.position(pos) + self.segment(torch.zeros_like(ids))
            return self.span(self.layers(self.norm(h)))

    return MobileBert()


# -- RNN-T --------------------------------------------------------------------------------------------
def rnnt(
    bands: int = 80, splice: int = 3, hidden: int = 1024, stack: int = 2, pred: int = 320, joint: int = 512
) -> Any:
    """(N, frames, bands) log-mel -> (N, frames // (splice * stack), 29) joint logits of each encoder frame
    with the prediction network's start state: the encoder (almost all of the MACs) and greedy decoding's
    first step per frame. Later steps feed back emitted labels, which seeded weights make meaningless."""

    class RNNT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pre = nn.LSTM(bands * splice, hidden, 2, batch_first=True)
            self.post = nn.LSTM(hidden * stack, hidden, 3, batch_first=True)
            self.embed = nn.Embedding(28, pred)  # the 28 non-blank labels; the start symbol embeds as zeros
            self.pred = nn.LSTM(pred, pred, 2, batch_first=True)
            self.joint = nn.Sequential(nn.Linear(hidden + pred, joint), nn.ReLU(), nn.Linear(joint, 29))

        def forward(self, x: Any) -> Any:
            n, t, c = x.shape
            t = t // (splice * stack) * splice * stack
            f, _ = self.pre(x[:, :t].reshape(n, t // splice, splice * c))
            f, _ = self.post(f.reshape(n, t // splice // stack, stack * f.shape[-1]))
            g, _ = self.pred(x.new_zeros(n, 1, self.embed.embedding_dim))
            return self.joint(torch.cat([f, g.expand(-1, f.shape[1], -1)], -1))

        def analytic_flops(self, shape: tuple[int, ...]) -> int:
            """2 x multiply-adds: the fused LSTM kernels hide their work from torch's counter on a CPU."""
            n, t, c = shape
            steps = t // (splice * stack) * stack
            macs = 4 * hidden * (splice * c + hidden) * steps + 4 * hidden * 2 * hidden * steps
            macs += (
                4 * hidden * (stack * hidden + hidden) * steps // stack + 2 * 4 * hidden * 2 * hidden * steps // stack
            )
            macs += 2 * 4 * pred * 2 * pred + steps // stack * ((hidden + pred) * joint + joint * 29)
            return 2 * n * macs

    return RNNT()


# -- NCF and DLRM -------------------------------------------------------------------------------------
def ncf_ml20m() -> Any:
    return ncf(users=138493, items=26744, factors=64, layers=(256, 256, 128, 64))


def dlrm(
    rows: int = 0, dim: int = 16, bottom: tuple[int, ...] = (512, 256, 64), top: tuple[int, ...] = (512, 256)
) -> Any:
    """(N, 13 + 26) log counts then categorical ids -> (N, 2) logits (0, z) for click logit z (their
    softmax is sigmoid(z), so the classification metrics read it): embeddings, bottom MLP, pairwise dot
    products of the 27 vectors, top MLP. ``rows`` 0 is Criteo Kaggle's tables, else each capped at it."""
    tables = clicks.tables(rows)
    n = len(tables) + 1
    pairs = [i * n + j for i in range(n) for j in range(i)]  # below the diagonal of the 27 x 27 products

    def mlp(sizes: tuple[int, ...], relu_last: bool) -> Any:
        layers: list[Any] = []
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers += [nn.Linear(a, b)] + ([nn.ReLU()] if relu_last or k < len(sizes) - 2 else [])
        return nn.Sequential(*layers)

    class DLRM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tables = nn.ModuleList(nn.Embedding(r, dim) for r in tables)
            self.bottom = mlp((clicks.DENSE, *bottom, dim), relu_last=True)
            self.top = mlp((dim + len(pairs), *top, 1), relu_last=False)
            self.register_buffer("pairs", torch.tensor(pairs), persistent=False)

        def forward(self, x: Any) -> Any:
            d = self.bottom(x[:, : clicks.DENSE])
            ids = x[:, clicks.DENSE :].long()
            v = torch.stack([d, *(t(ids[:, k]) for k, t in enumerate(self.tables))], 1)
            z = (v @ v.transpose(1, 2)).flatten(1).index_select(1, self.pairs)  # type: ignore[arg-type]
            logit = self.top(torch.cat([d, z], 1))
            return torch.cat([torch.zeros_like(logit), logit], 1)

    return DLRM()


# -- R(2+1)D-18 ---------------------------------------------------------------------------------------
def r2plus1d_18(num_classes: int = 400) -> Any:
    """Each 3x3x3 convolution factorised into a spatial 1x3x3 and a temporal 3x1x1 one, the middle width
    chosen so the pair has the 3D convolution's parameters (the paper's eq. 1)."""

    def bn_relu(c: int) -> list[Any]:
        return [nn.BatchNorm3d(c), nn.ReLU(inplace=True)]

    def conv2plus1d(cin: int, cout: int, mid: int, s: int = 1) -> list[Any]:
        return [
            nn.Conv3d(cin, mid, (1, 3, 3), (1, s, s), (0, 1, 1), bias=False),
            *bn_relu(mid),
            nn.Conv3d(mid, cout, (3, 1, 1), (s, 1, 1), (1, 0, 0), bias=False),
        ]

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, s: int) -> None:
            super().__init__()
            mid = cin * cout * 27 // (cin * 9 + 3 * cout)
            self.body = nn.Sequential(
                *conv2plus1d(cin, mid=mid, cout=cout, s=s),
                *bn_relu(cout),
                *conv2plus1d(cout, cout, mid),
                nn.BatchNorm3d(cout),
            )
            self.short = (
                nn.Identity()
                if s == 1 and cin == cout
                else nn.Sequential(nn.Conv3d(cin, cout, 1, s, bias=False), nn.BatchNorm3d(cout))
            )
            self.residual = True  # seeded() damps the branch's last BatchNorm

        def forward(self, x: Any) -> Any:
            return torch.relu(self.body(x) + self.short(x))

    stem = [
        nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
        *bn_relu(45),
        nn.Conv3d(45, 64, (3, 1, 1), 1, (1, 0, 0), bias=False),
        *bn_relu(64),
    ]
    blocks, cin = [], 64
    for cout, s in ((64, 1), (128, 2), (256, 2), (512, 2)):
        blocks += [Block(cin, cout, s), Block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*stem, *blocks, nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(512, num_classes))
