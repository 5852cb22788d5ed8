"""An ONNX decoder with a KV cache on ONNX Runtime: the graph takes ``input_ids`` and
``past_key_values.N.key``/``.value`` (batch, kv_heads, past, head_dim) and returns ``logits`` and
``present.N.key``/``.value`` (Hugging Face Optimum's and onnxruntime-genai's naming). The session's
plain ``infer`` is one prefill of a batch of prompts (what a non-generation paradigm would time)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from pytest_aibench.errors import ArtifactError

PAST = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")


def is_decoder_graph(sess: Any) -> bool:
    return any(PAST.match(i.name) for i in sess.get_inputs())


class OrtDecoderSession:
    def __init__(self, sess: Any, artifact: Any, options: dict[str, Any]):
        where = f"{artifact.path.name} (onnxruntime)"
        inputs = {i.name: i for i in sess.get_inputs()}
        self._past = sorted((n for n in inputs if PAST.match(n)), key=lambda n: (int(PAST.match(n)[1]), n))  # type: ignore[index]
        if "input_ids" not in inputs:
            raise ArtifactError(
                f"{where}: a decoder graph needs an 'input_ids' input (its inputs: {', '.join(inputs)})"
            )
        extra = sorted(set(inputs) - {"input_ids", *self._past})
        if extra:
            raise ArtifactError(
                f"{where}: decoder inputs {', '.join(extra)} are not fed (aibench feeds input_ids and the past "
                "key/values; export position ids and masks inside the graph)"
            )
        outs = [o.name for o in sess.get_outputs()]
        self._present = [n.replace("past_key_values", "present") for n in self._past]
        missing = [n for n in ["logits", *self._present] if n not in outs]
        if missing:
            raise ArtifactError(
                f"{where}: a decoder graph must output {', '.join(missing)} (its outputs: {', '.join(outs)})"
            )
        shape = inputs[self._past[0]].shape
        self._kv_heads, self._head_dim = int(shape[1]), int(shape[3])
        self._kv_dtype = np.float16 if "float16" in inputs[self._past[0]].type else np.float32
        card = getattr(artifact, "card", None)
        config = (card.data.get("decoder") if card is not None else None) or artifact.config or {}
        self.context = int(config.get("context", 2048))
        self.vocab = int(config.get("vocab", 0))
        self._sess, self._artifact = sess, artifact
        self._outs = ["logits", *self._present]
        self.options = {**options, "decoder": {"layers": len(self._past) // 2, "kv_heads": self._kv_heads}}

    def adapt(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.int64)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        feed = {"input_ids": np.asarray(batch, dtype=np.int64), **self._empty(len(batch))}
        return self._sess.run(["logits"], feed)[0]

    def _empty(self, batch: int) -> dict[str, np.ndarray]:
        z = np.zeros((batch, self._kv_heads, 0, self._head_dim), dtype=self._kv_dtype)
        return dict.fromkeys(self._past, z)

    def decoder(self) -> OrtDecoder:
        return OrtDecoder(self)

    def close(self) -> None:
        self._sess = None


class OrtDecoder:
    def __init__(self, session: OrtDecoderSession):
        self._s = session
        self.context, self.vocab = session.context, session.vocab

    def start(self) -> Any:
        return self._s._empty(1)

    def forward(self, ids: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        s = self._s
        got = s._sess.run(s._outs, {"input_ids": np.asarray(ids, dtype=np.int64)[None], **state})
        return np.asarray(got[0][0], dtype=np.float32), dict(zip(s._past, got[1:], strict=True))

    def length(self, state: Any) -> int:
        return int(next(iter(state.values())).shape[2])

    def keep(self, state: Any, length: int) -> Any:
        return {k: np.ascontiguousarray(v[:, :, :length]) for k, v in state.items()}

    def kv_bytes(self, state: Any) -> int:
        return int(sum(v.nbytes for v in state.values()))
