"""Published decoder configurations with seeded weights (built on first use, pinned by the lock like
``suites/aiot-full``): quality is not applicable, latency, TTFT/TPOT, tokens/s and memory are measured.

- GPT-2 (Radford et al. 2019; the ``gpt2`` checkpoint's config): 124 M parameters;
- Qwen2.5-0.5B (Qwen team 2024, its config.json): RoPE (theta 1e6), 14 query and 2 key/value heads,
  SwiGLU of 4,864, tied embeddings of 151,936 tokens, q/k/v biases: 494 M;
- TinyLlama-1.1B (Zhang et al. 2024, Llama 2's architecture): 32 query and 4 key/value heads, SwiGLU of
  5,632, 32,000 tokens: 1.10 B.

The context is capped at what a 2-core host can fill (the architecture, hence the parameter count, is
the published one; only the learned-position table of GPT-2 depends on it and keeps its 1,024)."""

from __future__ import annotations

from typing import Any, NamedTuple

from pytest_aibench.gen import arch


class PublishedDecoder(NamedTuple):
    config: dict[str, Any]
    params: float  #: the published parameter count
    source: str


PUBLISHED_GEN: dict[str, PublishedDecoder] = {
    "gpt2_124m": PublishedDecoder(
        {"style": "gpt", "vocab": 50257, "context": 1024, "width": 768, "layers": 12, "heads": 12},
        124e6,
        "Radford et al. 2019; Hugging Face gpt2 config.json (n_embd 768, n_layer 12, n_head 12, n_ctx 1024): 124 M",
    ),
    "qwen2_5_0_5b": PublishedDecoder(
        {
            "style": "llama",
            "vocab": 151936,
            "context": 4096,
            "width": 896,
            "layers": 24,
            "heads": 14,
            "kv_heads": 2,
            "mlp": 4864,
            "tie": True,
            "qkv_bias": True,
            "rope_theta": 1e6,
        },
        494e6,
        "Qwen2.5 technical report (arXiv:2412.15115); Qwen/Qwen2.5-0.5B config.json: 0.49 B (494 M)",
    ),  # fmt: skip
    "tinyllama_1_1b": PublishedDecoder(
        {
            "style": "llama",
            "vocab": 32000,
            "context": 2048,
            "width": 2048,
            "layers": 22,
            "heads": 32,
            "kv_heads": 4,
            "mlp": 5632,
        },
        1.1e9,
        "Zhang et al. 2024 (arXiv:2401.02385); TinyLlama-1.1B config.json: 1.1 B",
    ),  # fmt: skip
}


def _build(name: str) -> Any:
    config = dict(PUBLISHED_GEN[name].config)
    style = config.pop("style")
    return arch.gpt(**config) if style == "gpt" else arch.llama(**config)


def gpt2_124m() -> Any:
    return _build("gpt2_124m")


def qwen2_5_0_5b() -> Any:
    return _build("qwen2_5_0_5b")


def tinyllama_1_1b() -> Any:
    return _build("tinyllama_1_1b")
