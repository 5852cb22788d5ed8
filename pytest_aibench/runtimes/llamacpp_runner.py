"""llama.cpp (through llama-cpp-python): the edge runtime people run LLMs on, reading GGUF files.

A user's ``.gguf`` runs as it is; a zoo decoder (the compact trained ones, and the published
configurations) is converted from its torch weights at prepare (:mod:`pytest_aibench.gen.gguf_export`:
f32, f16, and llama.cpp's own Q8_0 / Q4_0 quantizer for ``int8_weight`` / ``int4_weight``), once, into the
cache, and the file's sha256 and tensor census go into each result. The quantization an item names must
be the file's: a Q4_0 file listed as ``fp32`` is refused, not mislabelled.

Decoding drives llama.cpp's context directly (its model, context and batch wrappers): each forward is one
``llama_decode`` of the new ids at their positions with every position's logits, and rolling the cache
back (speculative decoding) removes the positions after the kept length (``llama_memory_seq_rm``), as
llama.cpp's own speculative example does."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.files import cache_root, sha256_file
from pytest_aibench.gen import gguf_export
from pytest_aibench.runtimes import RuntimeOption, accelerator, no_device, one_of, runtime_options, version_of

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.model import Settings
    from pytest_aibench.sim.node import Node

llama_cpp = lazy("llama_cpp")
internals = lazy("llama_cpp._internals")
torch_runner = lazy("pytest_aibench.runtimes.torch_runner")

#: the KV cache's element type (ggml type id, bytes per element)
_KV_TYPES = {"f16": (1, 2.0), "f32": (0, 4.0), "q8_0": (8, 34 / 32)}
_FLASH = {"auto": -1, False: 0, True: 1}


def _flag(value: Any) -> str | None:
    return None if value in (True, False, "auto") else f"got {value!r}"


class LlamaCppRunner:
    name = "llama_cpp"
    module = "llama_cpp"
    package = "llama-cpp-python"
    install_hint = (
        "pip install 'pytest-aibench[llamacpp]' (llama-cpp-python compiles llama.cpp from source: "
        "about 7 minutes on 2 cores, with cmake and a C++ compiler)"
    )
    formats = ("gguf", "pt")  # a GGUF file, or a zoo decoder's torch weights converted at prepare
    options = {
        "flash_attn": RuntimeOption(
            "true, false or auto", _flag, "llama.cpp's flash attention (default false: the plain attention graph)."
        ),
        "kv_cache_type": RuntimeOption(
            "f16, f32 or q8_0", one_of(*_KV_TYPES), "the KV cache's element type (llama.cpp's default f16)."
        ),
    }

    def derives(self, quantization: str, fmt: str) -> bool:
        if fmt == "pt":
            return quantization in gguf_export.GGUF_TYPES
        return fmt == "gguf" and quantization in set(gguf_export.QUANTIZATION_OF.values())

    def prepare(self, artifact: ModelArtifact, node: Node, settings: Settings) -> LlamaCppSession:
        kind, _ = accelerator(settings.device)
        if kind != "cpu":
            raise no_device(
                "llama_cpp",
                settings.device,
                "this llama-cpp-python is the CPU build (rebuild it with CMAKE_ARGS=-DGGML_CUDA=on for CUDA)",
            )
        if artifact.format == "pt" and (artifact.card is None or artifact.card.data.get("task") != "generation"):
            raise NotAvailable(
                f"llama_cpp runs decoders (a GGUF file, or a zoo decoder converted to GGUF); {artifact.model} is not one"
            )
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # llama.cpp's quantizer and loader chatter
        path = artifact.path if artifact.format == "gguf" else converted(artifact)
        if not path.is_file():
            raise ArtifactError(f"model file {path} not found")
        try:
            census = gguf_export.census(path)
        except Exception as exc:  # noqa: BLE001 - gguf-py raises ValueError/struct errors on foreign bytes
            raise ArtifactError(
                f"{path}: not a GGUF file gguf-py can read ({type(exc).__name__}: {exc}); write one with llama.cpp's "
                "convert_hf_to_gguf.py, or list the model's ONNX or torch file on another runtime"
            ) from None
        stored = gguf_export.weight_type(census)
        called = gguf_export.QUANTIZATION_OF.get(stored)
        if called != artifact.quantization and artifact.format == "pt":  # llama.cpp's quantizer fell back
            raise NotAvailable(
                f"llama.cpp cannot make {artifact.quantization} of {_zoo_name(artifact)}: its quantizer kept most "
                f"weights {stored} (tensor types {census['weight_types']}; Q8_0 and Q4_0 need rows that divide into "
                "blocks of 32)"
            )
        if called != artifact.quantization:
            fix = f"list it under quantizations: [{called}]" if called else "convert it to F32, F16, Q8_0 or Q4_0"
            raise ArtifactError(
                f"{path.name}: its weights are mostly {stored} ({called or 'a type aibench does not name'}), but the "
                f"item measures {artifact.quantization}; {fix}"
            )
        opts = runtime_options(settings, self.name)
        threads = settings.threads or node.threads
        return LlamaCppSession(path, census, threads, opts, artifact)


def converted(artifact: ModelArtifact) -> Path:
    """The zoo decoder's GGUF for the item's quantization, converted once into the cache (named by the
    source weights' sha256, the quantization and the converters' versions, written atomically so
    parallel workers never read half a file)."""
    source = artifact.sha256 or sha256_file(artifact.path)
    tools = f"gguf{version_of('gguf')}-llamacpp{version_of('llama-cpp-python')}"
    folder = cache_root() / "gguf"
    name = _zoo_name(artifact)
    path = folder / f"{name}-{source[:16]}-{artifact.quantization}-{tools}.gguf"
    if path.is_file():
        return path
    module = torch_runner.load_module(artifact).eval()  # torch loads here, only when converting
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".gguf", dir=folder)
    os.close(fd)
    try:
        gguf_export.write(module, Path(tmp), artifact.quantization, name=name)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _zoo_name(artifact: ModelArtifact) -> str:
    return artifact.card.name if artifact.card is not None else artifact.model


class LlamaCppSession:
    """A GGUF model and one llama.cpp context (one sequence at a time) sized to the model's context."""

    def __init__(self, path: Path, census: dict[str, Any], threads: int, opts: dict[str, Any], artifact: Any):
        self.context = int(census["context"] or 2048)
        self.vocab = int(census["vocab"] or 0)
        kv_type, self._kv_elem = _KV_TYPES[str(opts.get("kv_cache_type", "f16"))]
        flash = opts.get("flash_attn", False)
        if opts.get("kv_cache_type") == "q8_0" and flash is False:
            raise ArtifactError(
                "runtime_options llama_cpp: kv_cache_type q8_0 needs flash_attn: true (or auto): llama.cpp "
                "quantizes the V cache only inside flash attention"
            )
        head_dim = int(census["width"]) // int(census["heads"])
        if opts.get("kv_cache_type") == "q8_0" and head_dim % 32:
            raise ArtifactError(
                f"runtime_options llama_cpp: kv_cache_type q8_0 needs a head dimension that divides into Q8_0's "
                f"blocks of 32; {path.name}'s heads are {head_dim} wide: use f16 or f32"
            )
        mp = llama_cpp.llama_model_default_params()
        mp.n_gpu_layers = 0
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = cp.n_batch = cp.n_ubatch = self.context
        cp.n_threads = cp.n_threads_batch = threads
        cp.type_k = cp.type_v = kv_type
        cp.flash_attn_type = _FLASH[flash]
        cp.no_perf = True
        try:
            self._model = internals.LlamaModel(path_model=str(path), params=mp, verbose=False)
            self._ctx = internals.LlamaContext(model=self._model, params=cp, verbose=False)
        except ValueError as exc:
            raise ArtifactError(f"llama.cpp cannot load {path}: {exc}") from None
        self.vocab = self._model.n_vocab() or self.vocab
        self._batch = internals.LlamaBatch(n_tokens=self.context, embd=0, n_seq_max=1, verbose=False)
        layers, kv_heads = int(census["layers"]), int(census["kv_heads"])
        self._kv_per_token = 2 * layers * kv_heads * head_dim * self._kv_elem
        self._sequence = 0  # which sequence the context's cache holds (one at a time)
        self._path, self._artifact = path, artifact
        self.options = {
            "threads": threads,
            "device": "cpu",
            "version": version_of("llama-cpp-python"),
            "gguf": path.name,
            "gguf_sha256": sha256_file(path),
            "gguf_type": gguf_export.weight_type(census),
            "weight_types": census["weight_types"],  # what each weight tensor is, read back from the file
            "architecture": census["architecture"],
            "kv_cache_type": str(opts.get("kv_cache_type", "f16")),
            "flash_attn": flash,
            "cpu_features": _features(llama_cpp.llama_print_system_info()),
            "decoder": {"layers": layers, "kv_heads": kv_heads},
        }

    def adapt(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.int64)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """A plain paradigm's call: each row prefilled from an empty cache, its last position's logits."""
        dec = self.decoder()
        return np.stack([dec.forward(np.asarray(row), dec.start())[0][-1] for row in batch])

    def decoder(self) -> LlamaCppDecoder:
        return LlamaCppDecoder(self)

    def decode(self, ids: np.ndarray, past: int) -> np.ndarray:
        """Logits (len(ids), vocab) of ``ids`` at positions ``past``..; the cache after ``past`` is dropped first."""
        n = len(ids)
        if past + n > self.context:
            raise ArtifactError(f"{self._path.name}: {past + n} positions exceed the context of {self.context}")
        self._ctx.kv_cache_seq_rm(0, past, -1)
        self._batch.set_batch(batch=[int(i) for i in ids], n_past=past, logits_all=True)
        self._ctx.decode(self._batch)
        logits = np.ctypeslib.as_array(self._ctx.get_logits(), shape=(n * self.vocab,))
        return logits.reshape(n, self.vocab).copy()

    def close(self) -> None:
        for part in (self._batch, self._ctx, self._model):
            part.close()


def _features(info: bytes) -> list[str]:
    """The CPU features llama.cpp's build uses (``AVX2 = 1`` ... in its system info)."""
    return sorted(set(re.findall(r"([A-Z0-9_]+) = 1", info.decode(errors="replace"))))


class LlamaCppDecoder:
    """The :class:`~pytest_aibench.gen.decoding.Decoder` of a llama.cpp context. The cache lives in the
    context, one sequence at a time, so a state is (sequence, length, its ids): continuing the current
    sequence is a plain decode, a state of an older sequence is refused rather than silently continuing
    another sequence's cache, and :meth:`ready` makes it current again (untimed: the paired gate's side
    keeps one prefilled prompt per input)."""

    def __init__(self, session: LlamaCppSession):
        self._s = session
        self.context, self.vocab = session.context, session.vocab

    def start(self) -> Any:
        self._s._sequence += 1
        return (self._s._sequence, 0, _NO_IDS)

    def forward(self, ids: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        seq, past, held = state
        if seq != self._s._sequence:
            raise RuntimeError(
                "a llama_cpp session decodes one sequence at a time: this state's cache was replaced (ready(state) "
                "restores it)"
            )
        new = np.asarray(ids, dtype=np.int64)
        return self._s.decode(new, past), (seq, past + len(new), np.concatenate([held[:past], new]))

    def ready(self, state: Any) -> None:
        """Make ``state`` the context's sequence again: its ids prefilled afresh (outside any timing)."""
        seq, past, held = state
        if seq != self._s._sequence:
            self._s._sequence = seq
            if past:
                self._s.decode(held[:past], 0)

    def length(self, state: Any) -> int:
        return int(state[1])

    def keep(self, state: Any, length: int) -> Any:
        keep = min(int(state[1]), int(length))
        return (state[0], keep, state[2][:keep])

    def kv_bytes(self, state: Any) -> int:
        return int(self._s._kv_per_token * state[1])


_NO_IDS = np.zeros(0, dtype=np.int64)
