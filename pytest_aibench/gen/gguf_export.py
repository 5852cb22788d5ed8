"""Our decoders as GGUF files, the format llama.cpp runs: what ``convert_hf_to_gguf.py`` writes for
GPT-2 (``gpt2``) and Llama/Qwen (``llama``) checkpoints, from the zoo's torch weights.

- ``gpt`` style -> ``gpt2``: learned positions (``position_embd``), q/k/v fused into ``attn_qkv``, biases,
  LayerNorm (eps 1e-5), tanh GELU.
- ``llama`` style -> ``llama``: RMSNorm (eps 1e-6), SwiGLU, grouped-query attention, optional q/k/v biases
  (Qwen2). Our RoPE turns each head's halves (the NeoX/HF layout); llama.cpp's ``llama`` turns adjacent
  pairs, so q and k rows are permuted as the reference converter does, which leaves attention unchanged.

Weights are written in f32 or f16 by gguf-py (ggml's own Python writer); ``int8_weight`` and
``int4_weight`` are then made by llama.cpp's quantizer (``llama_model_quantize``: Q8_0 and Q4_0, blocks
of 32 with a scale each), so the file is the one ``llama-quantize`` makes, fallbacks included (a tensor
whose rows do not divide into blocks keeps a wider type: the tensor census records what each got).
The ids are the model's own: the vocabulary is written as ``none`` with its size, so llama.cpp never
tokenizes (aibench feeds ids, as it does every runtime)."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import numpy as np

from pytest_aibench._lazy import lazy

gguf = lazy("gguf")
llama_cpp = lazy("llama_cpp")

#: the item's quantization -> the GGUF type its weights get (f32/f16 written, the rest quantized by llama.cpp)
GGUF_TYPES: dict[str, str] = {"fp32": "F32", "fp16": "F16", "int8_weight": "Q8_0", "int4_weight": "Q4_0"}
#: llama.cpp's llama_ftype for the quantizer (llama.h: MOSTLY_Q4_0 = 2, MOSTLY_Q8_0 = 7)
_FTYPE = {"Q8_0": 7, "Q4_0": 2}
#: a GGUF file's weight type -> the quantization an item calls it
QUANTIZATION_OF: dict[str, str] = {
    "F32": "fp32", "F16": "fp16", "BF16": "bf16", "Q8_0": "int8_weight",
    **{t: "int4_weight" for t in ("Q4_0", "Q4_1", "Q4_K", "IQ4_NL", "IQ4_XS", "MXFP4")},
}  # fmt: skip


def _permute(w: np.ndarray, heads: int) -> np.ndarray:
    """Rows of each head from halves (NeoX) to interleaved pairs (llama.cpp's ``llama`` RoPE)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tensors(module: Any) -> dict[str, np.ndarray]:
    """GGUF tensor name -> float32 array (out, in) for a :mod:`pytest_aibench.gen.arch` decoder."""
    sd = {k: v.detach().float().numpy() for k, v in module.state_dict().items()}
    gpt = module.style == "gpt"
    out: dict[str, np.ndarray] = {"token_embd.weight": sd["embed.weight"]}
    if gpt:
        out["position_embd.weight"] = sd["pos.weight"]
    names = {"norm1": "attn_norm", "o": "attn_output", "norm2": "ffn_norm", "up": "ffn_up", "down": "ffn_down",
             "gate": "ffn_gate"}  # fmt: skip
    for i in range(module.layers_n):
        pre, blk = f"blocks.{i}.", f"blk.{i}."
        for key, arr in sd.items():
            if not key.startswith(pre):
                continue
            part, kind = key[len(pre) :].rsplit(".", 1)
            if part in names:
                out[blk + names[part] + "." + kind] = arr
            elif not gpt:  # q, k, v apart; q and k turned to interleaved RoPE pairs
                heads = module.heads if part == "q" else module.kv_heads
                out[f"{blk}attn_{part}.{kind}"] = _permute(arr, heads) if part in ("q", "k") else arr
        if gpt:
            for kind in ("weight", "bias"):
                out[f"{blk}attn_qkv.{kind}"] = np.concatenate([sd[f"{pre}{p}.{kind}"] for p in "qkv"])
    out["output_norm.weight"] = sd["norm.weight"]
    if gpt:
        out["output_norm.bias"] = sd["norm.bias"]
    if module.head.weight is not module.embed.weight:  # tied embeddings: llama.cpp reuses token_embd
        out["output.weight"] = sd["head.weight"]
    return out


def write(module: Any, path: Path, quantization: str, name: str = "aibench") -> Path:
    """``module`` as a GGUF file at ``path`` with ``quantization``'s weight type (see :data:`GGUF_TYPES`)."""
    if quantization not in GGUF_TYPES:
        raise ValueError(f"no GGUF type for {quantization!r} (llama.cpp here: {', '.join(GGUF_TYPES)})")
    kind = GGUF_TYPES[quantization]
    wide = kind if kind in ("F32", "F16") else "F32"
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = path if wide == kind else path.with_suffix(".f32.gguf")
    _write_float(module, plain, wide, name)
    if plain != path:
        quantize(plain, path, kind)
        plain.unlink()
    return path


def _write_float(module: Any, path: Path, kind: str, name: str) -> None:
    arch = "gpt2" if module.style == "gpt" else "llama"
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(name)
    w.add_context_length(module.context)
    w.add_embedding_length(module.width)
    w.add_feed_forward_length(module.mlp)
    w.add_block_count(module.layers_n)
    w.add_head_count(module.heads)
    w.add_head_count_kv(module.kv_heads)
    w.add_vocab_size(module.vocab)
    if arch == "gpt2":
        w.add_layer_norm_eps(1e-5)
    else:
        w.add_layer_norm_rms_eps(1e-6)
        w.add_rope_dimension_count(module.head_dim)
        w.add_rope_freq_base(float(module.rope_theta))
    w.add_tokenizer_model("none")  # ids in, ids out: no tokenizer to disagree with ours
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16 if kind == "F16" else gguf.LlamaFileType.ALL_F32))
    for tname, arr in tensors(module).items():
        if kind == "F16" and arr.ndim == 2:
            w.add_tensor(tname, arr.astype(np.float16))
        else:
            w.add_tensor(tname, np.ascontiguousarray(arr, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def quantize(src: Path, dst: Path, kind: str) -> None:
    """llama.cpp's own quantizer (``llama-quantize src dst Q8_0``), single-threaded so the bytes repeat."""
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _FTYPE[kind]
    params.nthread = 1
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"llama.cpp could not quantize {src.name} to {kind} (llama_model_quantize returned {rc})")


def census(path: Path) -> dict[str, Any]:
    """What a GGUF file holds: its architecture, context, and how many weight tensors (2-D) and
    parameters have each type, read back from the file rather than assumed."""
    r = gguf.GGUFReader(str(path))
    fields = r.fields

    def value(key: str) -> Any:
        f = fields.get(key)
        if f is None:
            return None
        return f.contents()

    arch = value("general.architecture")
    types: dict[str, int] = {}
    params: dict[str, int] = {}
    for t in r.tensors:
        if len(t.shape) < 2:
            continue
        name = t.tensor_type.name
        types[name] = types.get(name, 0) + 1
        params[name] = params.get(name, 0) + int(t.n_elements)
    return {
        "architecture": arch,
        "context": value(f"{arch}.context_length"),
        "vocab": value(f"{arch}.vocab_size"),
        "layers": value(f"{arch}.block_count"),
        "heads": value(f"{arch}.attention.head_count"),
        "kv_heads": value(f"{arch}.attention.head_count_kv") or value(f"{arch}.attention.head_count"),
        "width": value(f"{arch}.embedding_length"),
        "weight_types": types,
        "weight_params": params,
    }


def weight_type(c: dict[str, Any]) -> str:
    """The type most weight parameters have (what the file is called: a Q4_0 file keeps some tensors wider)."""
    params = c.get("weight_params") or {}
    return max(params, key=params.get) if params else "F32"  # type: ignore[arg-type]
