"""Decoder-only transformers with a KV cache, in two published styles:

- ``gpt``: GPT-2 (Radford et al. 2019): learned positions, pre-LayerNorm, GELU MLP, biases, tied
  embeddings;
- ``llama``: Llama/Qwen (Touvron et al. 2023; Qwen2): RoPE, RMSNorm, SwiGLU MLP, grouped-query
  attention (``kv_heads`` < ``heads``), no biases (Qwen2 keeps q/k/v biases: ``qkv_bias``).

``forward(ids)`` returns every position's logits (what a runner's plain ``infer`` times: one prefill);
``step(ids, past)`` continues from a cache and returns ``(logits, present)``: per layer a (key, value)
pair of shape (batch, kv_heads, positions, head_dim). ``export_forward`` is the same step with the cache
flattened, which is what the ONNX graph's ``past_key_values.N.key``/``.value`` inputs are.
Ids may come as floats (every runner feeds one float tensor): they are cast inside.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy("torch")
    nn = lazy("torch.nn")

STYLES = ("gpt", "llama")


def gpt(vocab: int = 50257, context: int = 1024, width: int = 768, layers: int = 12, heads: int = 12) -> Any:
    """GPT-2's architecture (``gpt2`` is the defaults: 124 M parameters)."""
    return _decoder_class()(
        style="gpt", vocab=vocab, context=context, width=width, layers=layers, heads=heads, kv_heads=heads,
        mlp=4 * width, tie=True, qkv_bias=True,
    )  # fmt: skip


def llama(
    vocab: int = 32000,
    context: int = 2048,
    width: int = 2048,
    layers: int = 22,
    heads: int = 32,
    kv_heads: int = 4,
    mlp: int = 5632,
    tie: bool = False,
    qkv_bias: bool = False,
    rope_theta: float = 10000.0,
) -> Any:
    """Llama's architecture (the defaults are TinyLlama-1.1B's: 1.10 B parameters)."""
    return _decoder_class()(
        style="llama", vocab=vocab, context=context, width=width, layers=layers, heads=heads, kv_heads=kv_heads,
        mlp=mlp, tie=tie, qkv_bias=qkv_bias, rope_theta=rope_theta,
    )  # fmt: skip


@lru_cache(maxsize=1)
def _rmsnorm() -> type:
    class RMSNorm(nn.Module):
        def __init__(self, width: int, eps: float = 1e-6) -> None:
            super().__init__()
            self.weight, self.eps = nn.Parameter(torch.ones(width)), eps

        def forward(self, x: Any) -> Any:
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    return RMSNorm


def _rotate(x: Any, cos: Any, sin: Any) -> Any:
    """RoPE: each head's halves turned by their positions' angles."""
    half = x.shape[-1] // 2
    turned = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + turned * sin


@lru_cache(maxsize=1)
def _block() -> type:
    F = torch.nn.functional
    RMSNorm = _rmsnorm()

    class Block(nn.Module):
        def __init__(self, d: Any) -> None:
            super().__init__()
            self.style, self.heads, self.kv_heads = d.style, d.heads, d.kv_heads
            self.head_dim = d.width // d.heads
            norm = nn.LayerNorm if d.style == "gpt" else RMSNorm
            self.norm1, self.norm2 = norm(d.width), norm(d.width)
            kv = self.kv_heads * self.head_dim
            self.q = nn.Linear(d.width, d.width, bias=d.qkv_bias)
            self.k = nn.Linear(d.width, kv, bias=d.qkv_bias)
            self.v = nn.Linear(d.width, kv, bias=d.qkv_bias)
            self.o = nn.Linear(d.width, d.width, bias=d.style == "gpt")
            if d.style == "gpt":
                self.up, self.down = nn.Linear(d.width, d.mlp), nn.Linear(d.mlp, d.width)
            else:
                self.gate = nn.Linear(d.width, d.mlp, bias=False)
                self.up, self.down = nn.Linear(d.width, d.mlp, bias=False), nn.Linear(d.mlp, d.width, bias=False)

        def mlp(self, x: Any) -> Any:
            if self.style == "gpt":
                return self.down(F.gelu(self.up(x), approximate="tanh"))
            return self.down(F.silu(self.gate(x)) * self.up(x))

        def forward(self, x: Any, rope: Any, past: tuple[Any, Any] | None, mask: Any) -> tuple[Any, Any, Any]:
            b, t, _ = x.shape
            h = self.norm1(x)
            q = self.q(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            k = self.k(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
            v = self.v(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
            if rope is not None:
                q, k = _rotate(q, *rope), _rotate(k, *rope)
            if past is not None:
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            groups = self.heads // self.kv_heads
            kk = k.repeat_interleave(groups, dim=1) if groups > 1 else k
            vv = v.repeat_interleave(groups, dim=1) if groups > 1 else v
            a = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask)
            x = x + self.o(a.transpose(1, 2).reshape(b, t, -1))
            return x + self.mlp(self.norm2(x)), k, v

    return Block


@lru_cache(maxsize=1)
def _decoder_class() -> type:
    Block, RMSNorm = _block(), _rmsnorm()

    class Decoder(nn.Module):
        def __init__(self, style: str, vocab: int, context: int, width: int, layers: int, heads: int,
                     kv_heads: int, mlp: int, tie: bool, qkv_bias: bool, rope_theta: float = 10000.0) -> None:  # fmt: skip
            super().__init__()
            if style not in STYLES or width % heads or heads % kv_heads:
                raise ValueError(f"decoder {style}: width {width}, heads {heads}, kv_heads {kv_heads} do not divide")
            self.style, self.vocab, self.context, self.width = style, vocab, context, width
            self.heads, self.kv_heads, self.mlp, self.qkv_bias = heads, kv_heads, mlp, qkv_bias
            self.layers_n, self.head_dim, self.rope_theta = layers, width // heads, rope_theta
            self.embed = nn.Embedding(vocab, width)
            self.pos = nn.Embedding(context, width) if style == "gpt" else None
            self.blocks = nn.ModuleList(Block(self) for _ in range(layers))
            self.norm = nn.LayerNorm(width) if style == "gpt" else RMSNorm(width)
            self.head = nn.Linear(width, vocab, bias=False)
            nn.init.normal_(self.embed.weight, std=0.02)  # GPT-2's initialisation: N(0, 1) would start at huge logits
            if self.pos is not None:
                nn.init.normal_(self.pos.weight, std=0.01)
            if tie:
                self.head.weight = self.embed.weight
            inv = 1.0 / rope_theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim)
            self.register_buffer("inv_freq", inv, persistent=False)

        def forward(self, ids: Any) -> Any:
            """Every position's logits for a batch of prompts (no cache)."""
            return self.step(ids, None)[0]

        def step(self, ids: Any, past: list[tuple[Any, Any]] | None) -> tuple[Any, list[tuple[Any, Any]]]:
            """Logits of ``ids`` (batch, new) continuing ``past``, and the cache that now includes them."""
            ids = ids.long()
            start = 0 if not past else past[0][0].shape[2]  # no int(): ONNX tracing must keep it dynamic
            t = ids.shape[1]
            positions = torch.arange(start, start + t, device=ids.device)
            x = self.embed(ids)
            rope = None
            if self.pos is not None:
                x = x + self.pos(positions)
            else:
                ang = positions[:, None].to(torch.float32) * self.inv_freq[None, :]  # type: ignore[index]
                ang = torch.cat([ang, ang], dim=-1)
                rope = (ang.cos().to(x.dtype), ang.sin().to(x.dtype))
            total = start + t
            mask = torch.ones(t, total, dtype=torch.bool, device=ids.device).tril(diagonal=start)
            present = []
            for i, block in enumerate(self.blocks):
                x, k, v = block(x, rope, past[i] if past else None, mask)
                present.append((k, v))
            return self.head(self.norm(x)), present

        def export_forward(self, ids: Any, *flat: Any) -> tuple[Any, ...]:
            """``step`` with the cache as flat key, value, key, value... tensors (the ONNX graph's signature)."""
            past = [(flat[2 * i], flat[2 * i + 1]) for i in range(self.layers_n)]
            logits, present = self.step(ids, past)
            return (logits, *[t for kv in present for t in kv])

        def empty_cache(self, batch: int = 1, dtype: Any = None) -> list[tuple[Any, Any]]:
            shape = (batch, self.kv_heads, 0, self.head_dim)
            dt = dtype or self.embed.weight.dtype
            return [(torch.zeros(shape, dtype=dt), torch.zeros(shape, dtype=dt)) for _ in range(self.layers_n)]

        def analytic_flops(self, shape: tuple[int, ...]) -> int:
            """FLOPs of one forward over ``shape`` = (batch, tokens) from an empty cache: every projection's
            multiply-adds per token, plus attention's scores and weighted sums over the full square (the
            causal mask is applied, not skipped, by the fused kernel)."""
            b, t = int(shape[0]), int(shape[-1])
            linear = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
            attention = self.layers_n * self.heads * self.head_dim * t * t * 2
            return 2 * b * (linear * t + attention)

        def describe(self) -> dict[str, Any]:
            """What the KV-cache interface and the cards read: layers, heads, context, vocabulary."""
            return {
                "style": self.style, "vocab": self.vocab, "context": self.context, "layers": self.layers_n,
                "heads": self.heads, "kv_heads": self.kv_heads, "head_dim": self.head_dim,
            }  # fmt: skip

    return Decoder


def count_params(module: Any) -> int:
    """Distinct parameters (tied embeddings count once, as the published figures do)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total
