"""Decoders with a KV cache: the architectures, the clock of greedy decoding, the ONNX export, the
procedural prompt language and speculative decoding's promise (the cloud's greedy output, exactly)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aibench.data import prompts
from pytest_aibench.errors import ArtifactError
from pytest_aibench.gen import decoding

torch = pytest.importorskip("torch")

from pytest_aibench.gen import arch  # noqa: E402
from pytest_aibench.gen.published import PUBLISHED_GEN  # noqa: E402
from pytest_aibench.gen.torch_decoder import TorchDecoder  # noqa: E402
from pytest_aibench.paradigms.llm_collab import Sides  # noqa: E402
from pytest_aibench.paradigms.speculative import speculate  # noqa: E402
from pytest_aibench.sim.topology import Topology  # noqa: E402
from pytest_aibench.zoo import build_module, cache  # noqa: E402

V = len(prompts.VOCAB)


def tiny(style: str, seed: int, **kw):
    torch.manual_seed(seed)
    if style == "gpt":
        return arch.gpt(vocab=V, context=64, width=32, layers=2, heads=4, **kw).eval()
    return arch.llama(vocab=V, context=64, width=32, layers=2, heads=4, kv_heads=2, mlp=64, **kw).eval()


@pytest.mark.parametrize("style", ["gpt", "llama"])
def test_the_cache_continues_exactly_where_a_full_forward_would(style):
    m = tiny(style, 0)
    ids = torch.randint(3, V, (1, 12))
    full = m(ids)
    parts, past = [], None
    for a, b in ((0, 5), (5, 6), (6, 9), (9, 12)):  # prefill, one token, a block (a verification), the rest
        logits, past = m.step(ids[:, a:b], past)
        parts.append(logits)
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)
    assert past[0][0].shape == (1, m.kv_heads, 12, m.head_dim)


@pytest.mark.parametrize("name", sorted(PUBLISHED_GEN))
def test_published_decoders_count_their_published_parameters(name):
    spec = PUBLISHED_GEN[name]
    with torch.device("meta"):
        model = build_module(name, {})
    counted = arch.count_params(model)
    assert abs(counted / spec.params - 1) < 0.05, f"{name}: {counted} parameters, published {spec.params:.0f}"
    entry = cache.lock()["models"][name]
    assert entry["params"] == spec.params and entry["task"] == "generation"
    assert set(entry["pin"]) <= set(entry["variants"]) and "torch/fp32" in entry["variants"]
    if name != "gpt2_124m":  # grouped-query attention: fewer key/value heads than query heads
        assert model.kv_heads < model.heads


class Scripted:
    """A decoder whose logits follow a script (the next id is the position's), with a fake clock."""

    context, vocab = 64, V

    def __init__(self, answer: list[int]):
        self.answer = answer

    def start(self):
        return 0

    def forward(self, ids, state):
        n = state + len(ids)
        logits = np.zeros((len(ids), V), np.float32)
        for i in range(len(ids)):
            step = state + i + 1 - self.prompt_len
            logits[i, self.answer[step] if 0 <= step < len(self.answer) else prompts.EOS] = 5.0
        return logits, n

    def length(self, state):
        return state

    def keep(self, state, length):
        return length

    def kv_bytes(self, state):
        return state * 8


def test_greedy_times_ttft_and_each_later_token_on_its_clock():
    dec = Scripted([5, 6, 7, prompts.EOS])
    prompt = np.array([1, 9, 9], np.int64)
    dec.prompt_len = len(prompt)
    ticks = iter(range(0, 10_000, 10))  # every clock read is 10 ns after the last
    g = decoding.greedy(dec, prompt, max_new=8, clock=lambda: next(ticks))
    assert g.tokens == [5, 6, 7, prompts.EOS]
    assert g.ttft_ns == 20 and g.prefill_ns == 10  # start, after prefill, after the first pick
    assert g.step_ns == [10] * (len(g.tokens) - 1)
    assert g.tpot_ns == 10 and g.kv_bytes == 8 * (len(prompt) + len(g.tokens) - 1)


def test_a_session_without_a_cache_and_a_context_too_long_are_refused_clearly():
    with pytest.raises(ArtifactError, match="no KV-cache interface"):
        decoding.decoder_of(object(), "item")
    dec = Scripted([])
    with pytest.raises(ArtifactError, match="longer than the model's context of 64"):
        decoding.check_context(dec, 60, 8, "item")


def test_the_onnx_decoder_generates_what_torch_generates(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from pytest_aibench.gen.onnx_export import export_onnx
    from pytest_aibench.gen.ort_decoder import OrtDecoderSession

    m = tiny("llama", 1)
    export_onnx(m, tmp_path / "d.onnx")

    class Art:
        path, config, card = tmp_path / "d.onnx", {"context": 64, "vocab": V}, None

    sess = OrtDecoderSession(ort.InferenceSession(str(tmp_path / "d.onnx")), Art(), {})
    x, _, _ = prompts.generate(0, 6)
    for row in x:
        p = decoding.prompt_ids(row)
        a = decoding.greedy(TorchDecoder(m, torch.float32), p, 8, stop=-1)
        b = decoding.greedy(sess.decoder(), p, 8, stop=-1)
        assert a.tokens == b.tokens and a.kv_bytes == b.kv_bytes > 0


@pytest.mark.parametrize("k", [1, 3, 6])
def test_speculative_decoding_outputs_exactly_the_clouds_greedy_answer(k):
    edge, cloud = TorchDecoder(tiny("gpt", 2), torch.float32), TorchDecoder(tiny("llama", 3), torch.float32)
    sides = Sides(edge, cloud)
    topo = Topology()
    x, _, _ = prompts.generate(5, 8, context=24)
    accepted = 0
    for i, row in enumerate(x):
        p = decoding.prompt_ids(row)
        want = decoding.greedy(cloud, p, 10).tokens
        got = speculate(sides, p, k, 10, topo.channels(0), float(i), 1.0)
        assert got.tokens == want
        assert got.line.total_s >= got.line.ttft_s > 0 and got.rounds >= 1
        accepted += got.accepted
    same = speculate(Sides(cloud, cloud), decoding.prompt_ids(x[0]), k, 10, topo.channels(0), 0.0, 1.0)
    assert same.accepted == same.drafted > 0  # a cloud drafting for itself is always right
    assert accepted >= 0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 4), st.sampled_from([0, 24, 40]))
def test_prompts_carry_their_exact_answers(seed, digits, context):
    x, texts, answers = prompts.generate(seed, 5, digits=digits, context=context)
    for row, text, answer in zip(x, texts, answers, strict=True):
        ids = decoding.prompt_ids(row)
        assert prompts.decode(ids) == text and ids[0] == prompts.BOS
        if context:
            assert len(ids) == context
        problem = text.split(" ")[-1]
        if "+" in problem:
            a, b = problem.rstrip("=").split("+")
            assert answer == str(int(a) + int(b))
        else:
            word = problem[1:-1]
            assert answer == (word if problem[0] == ">" else word[::-1])
    rows, mask = prompts.sequences(x, answers, 64 if context <= 40 else 80)
    assert mask.sum() == sum(len(a) + 1 for a in answers)
