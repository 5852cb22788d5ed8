"""llama.cpp as a runtime: our decoders converted to GGUF (gpt2 and llama architectures, f32/f16 and
llama.cpp's own Q8_0/Q4_0), decoding with a KV cache that rolls back, the file's quantization checked
against the item's, and generation items end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from pytest_aibench.data import prompts
from pytest_aibench.gen import decoding, gguf_export

torch = pytest.importorskip("torch")


def _rope_neox(x: np.ndarray, ang: np.ndarray) -> np.ndarray:
    """Our RoPE (arch._rotate): each head's halves turned."""
    half = x.shape[-1] // 2
    cos, sin = np.cos(np.concatenate([ang, ang])), np.sin(np.concatenate([ang, ang]))
    return x * cos + np.concatenate([-x[half:], x[:half]]) * sin


def _rope_pairs(x: np.ndarray, ang: np.ndarray) -> np.ndarray:
    """llama.cpp's ``llama`` RoPE: adjacent pairs (2i, 2i+1) turned by angle i."""
    out = x.copy()
    a, b = x[0::2], x[1::2]
    out[0::2], out[1::2] = a * np.cos(ang) - b * np.sin(ang), a * np.sin(ang) + b * np.cos(ang)
    return out


def test_the_permuted_rows_make_pair_rope_equal_to_half_rope_and_leave_attention_unchanged():
    rng = np.random.default_rng(0)
    heads, head_dim, width = 3, 8, 12
    wq, wk = rng.normal(size=(heads * head_dim, width)), rng.normal(size=(heads * head_dim, width))
    x1, x2 = rng.normal(size=width), rng.normal(size=width)
    ang1, ang2 = rng.uniform(0, 6, head_dim // 2), rng.uniform(0, 6, head_dim // 2)
    pq, pk = gguf_export._permute(wq, heads), gguf_export._permute(wk, heads)
    for h in range(heads):
        rows = slice(h * head_dim, (h + 1) * head_dim)
        ours = _rope_neox(wq[rows] @ x1, ang1) @ _rope_neox(wk[rows] @ x2, ang2)
        theirs = _rope_pairs(pq[rows] @ x1, ang1) @ _rope_pairs(pk[rows] @ x2, ang2)
        assert np.isclose(ours, theirs)  # every attention score is the same
    assert not np.allclose(pq, wq)  # and the permutation is not the identity


def test_gguf_census_reads_back_architecture_and_types(tmp_path):
    pytest.importorskip("gguf")
    from pytest_aibench.zoo import build_module

    for name, arch_name in (("decoder-edge", "gpt2"), ("decoder-cloud", "llama")):
        module = _zoo_module(name, build_module)
        for q, kind in (("fp32", "F32"), ("fp16", "F16")):
            path = gguf_export.write(module, tmp_path / f"{name}-{q}.gguf", q)
            c = gguf_export.census(path)
            assert c["architecture"] == arch_name and c["context"] == 64 and c["vocab"] == len(prompts.VOCAB)
            assert gguf_export.weight_type(c) == kind and set(c["weight_types"]) == {kind}
            again = gguf_export.write(module, tmp_path / f"again-{q}.gguf", q)
            assert _sha(again) == _sha(path)  # the same weights give the same bytes


def _zoo_module(name: str, build_module):
    folder = Path(__file__).parent.parent / "fixtures" / "models" / name
    card = json.loads((folder / "card.json").read_text())
    module = build_module(card["family"], card["config"])
    module.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    return module.eval()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- with llama.cpp itself ------------------------------------------------------------------------------
llama = pytest.mark.skipif(
    __import__("importlib").util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed: pip install 'pytest-aibench[llamacpp]'",
)


def _session(tmp_path, name: str, quantization: str):
    from pytest_aibench.runtimes.llamacpp_runner import LlamaCppSession
    from pytest_aibench.zoo import build_module

    path = gguf_export.write(_zoo_module(name, build_module), tmp_path / f"{name}-{quantization}.gguf", quantization)
    return LlamaCppSession(path, gguf_export.census(path), 1, {}, None)


@llama
@pytest.mark.parametrize("name", ["decoder-edge", "decoder-cloud"])
def test_llamacpp_f32_computes_what_torch_computes_and_answers_the_same(tmp_path, name):
    from pytest_aibench.gen.torch_decoder import TorchDecoder
    from pytest_aibench.zoo import build_module

    ours = TorchDecoder(_zoo_module(name, build_module), torch.float32)
    theirs = _session(tmp_path, name, "fp32").decoder()
    x, _, answers = prompts.generate(1, 40)
    ids = decoding.prompt_ids(x[0])
    a, _ = ours.forward(ids, ours.start())
    b, _ = theirs.forward(ids, theirs.start())
    assert np.abs(a - b).max() < 1e-3 * max(1.0, np.abs(a).max())  # same network, another engine's float order
    same = [
        decoding.greedy(ours, decoding.prompt_ids(r), 8).tokens
        == decoding.greedy(theirs, decoding.prompt_ids(r), 8).tokens
        for r in x
    ]
    assert np.mean(same) >= 0.95


@llama
def test_llamacpp_cache_rolls_back_and_a_stale_state_is_refused(tmp_path):
    dec = _session(tmp_path, "decoder-cloud", "fp32").decoder()
    ids = np.array([1, 5, 6, 40, 7, 8, 41], dtype=np.int64)
    full, _ = dec.forward(ids, dec.start())
    state = dec.start()
    _, state = dec.forward(ids[:4], state)
    _, state = dec.forward(np.array([9, 9, 9]), state)  # a draft the verifier rejects
    state = dec.keep(state, 4)
    rest, state = dec.forward(ids[4:], state)
    assert np.allclose(rest, full[4:], atol=1e-4) and dec.length(state) == 7
    c = json.loads((Path(__file__).parent.parent / "fixtures/models/decoder-cloud/card.json").read_text())["config"]
    # (k, v) x layers x key-value heads x head dim x 2 bytes (f16)
    per_position = 2 * c["layers"] * c["kv_heads"] * (c["width"] // c["heads"]) * 2
    assert dec.kv_bytes(state) == 7 * per_position
    other = dec.start()
    with pytest.raises(RuntimeError, match="one sequence at a time"):
        dec.forward(ids[:1], state)
    _, other = dec.forward(ids[:3], other)
    dec.ready(state)  # the first sequence's cache made again: it continues exactly
    again, _ = dec.forward(np.array([9]), state)
    alone = dec.start()
    _, alone = dec.forward(ids, alone)
    assert np.allclose(again, dec.forward(np.array([9]), alone)[0], atol=1e-4)


@llama
def test_llamacpp_quantizes_with_its_own_quantizer_and_says_what_each_tensor_got(tmp_path):
    from pytest_aibench.zoo import build_module

    module = _zoo_module("decoder-cloud", build_module)
    q8 = gguf_export.census(gguf_export.write(module, tmp_path / "q8.gguf", "int8_weight"))
    q4 = gguf_export.census(gguf_export.write(module, tmp_path / "q4.gguf", "int4_weight"))
    assert gguf_export.weight_type(q8) == "Q8_0" and gguf_export.QUANTIZATION_OF["Q8_0"] == "int8_weight"
    assert gguf_export.QUANTIZATION_OF[gguf_export.weight_type(q4)] == "int4_weight"
    again = gguf_export.write(module, tmp_path / "q8-again.gguf", "int8_weight")
    assert _sha(again) == _sha(tmp_path / "q8.gguf")


SUITE = """\
suite: gguf
version: "1.0"
datasets:
  problems:
    source: prompts
    split_seed: 0
    eval_fraction: 0.5
    params: {{samples: 200, seed: 1}}
models:
  cloud:
    zoo: decoder-cloud
    dataset: problems
    gates:
      generation.exact_match: ">= 0.85"
{models}frameworks: [llama_cpp]
paradigms: [generate]
quantizations: [{quantizations}]
params:
  generate: {{max_new_tokens: 8}}
settings: {{eval_samples: 24, warmup: 1, min_duration_ms: 200, min_query_count: 8}}
"""


@llama
@pytest.mark.slow  # whole sessions
def test_llamacpp_generation_items_report_mlperf_figures_and_the_files_they_ran(pytester: pytest.Pytester) -> None:
    root = Path(pytester.path)
    (root / "suite.yaml").write_text(SUITE.format(models="", quantizations="fp32, int8_weight, int4_weight"))
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=3)
    items = {i["axes"]["quantization"]: i for i in json.loads((root / "run.json").read_text())["items"]}
    for q, kind in (("fp32", "F32"), ("int8_weight", "Q8_0"), ("int4_weight", "Q4_0")):
        m, runner = items[q]["metrics"], items[q]["runner"]
        assert m["ttft"]["p99_ms"] > 0 and m["tpot"]["p50_ms"] > 0 and m["tokens_per_s"]["total"] > 0
        assert m["generation"]["exact_match"] >= 0.85 and m["kv_cache"]["bytes"] > 0
        assert runner["gguf_type"] == kind and runner["weight_types"][kind] >= 1 and len(runner["gguf_sha256"]) == 64


@llama
@pytest.mark.slow
def test_a_gguf_file_whose_weights_are_not_the_items_quantization_is_one_clear_error(pytester: pytest.Pytester) -> None:
    from pytest_aibench.zoo import build_module

    root = Path(pytester.path)
    gguf_export.write(_zoo_module("decoder-cloud", build_module), root / "mine.gguf", "int8_weight")
    (root / "junk.gguf").write_bytes(b"not a gguf at all" * 10)
    models = "".join(
        f'  {n}:\n    file: {n}.gguf\n    sha256: "{_sha(root / (n + ".gguf"))}"\n    dataset: problems\n    task: generation\n'
        for n in ("mine", "junk")
    )
    (root / "suite.yaml").write_text(SUITE.format(models=models, quantizations="fp32"))
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "-k", "mine or junk")
    out = r.stdout.str()
    assert (
        "mine.gguf: its weights are mostly Q8_0 (int8_weight), but the item measures fp32; list it under quantizations: [int8_weight]"
        in out
    )
    assert "junk.gguf: not a GGUF file" in out
    r.assert_outcomes(errors=2, deselected=1)  # refused at setup, before anything is timed


@llama
@pytest.mark.slow
def test_a_zoo_decoder_llamacpp_cannot_quantize_skips_saying_what_each_tensor_kept(pytester: pytest.Pytester) -> None:
    root = Path(pytester.path)
    models = "  edge:\n    zoo: decoder-edge\n    dataset: problems\n"
    (root / "suite.yaml").write_text(SUITE.format(models=models, quantizations="int8_weight"))
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "-k", "edge", "-rs")
    r.assert_outcomes(skipped=1, deselected=1)
    r.stdout.fnmatch_lines(
        ["*llama.cpp cannot make int8_weight of decoder-edge: its quantizer kept most weights F16*blocks of 32*"]
    )


@llama
@pytest.mark.slow
def test_the_readme_own_gguf_example_runs_as_written(pytester: pytest.Pytester) -> None:
    from pytest_aibench.zoo import build_module

    root = Path(pytester.path)
    text = (Path(__file__).parent.parent / "README.md").read_text()
    start = text.index("```yaml\n", text.index("Your own GGUF file")) + len("```yaml\n")
    gguf_export.write(_zoo_module("decoder-cloud", build_module), root / "decoder.Q4_0.gguf", "int4_weight")
    manifest = text[start : text.index("```", start)]
    (root / "my-gguf.yaml").write_text(
        manifest.replace("<sha256 of decoder.Q4_0.gguf>", _sha(root / "decoder.Q4_0.gguf"))
    )
    r = pytester.runpytest("--aibench", "my-gguf.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=1)
    (item,) = json.loads((root / "run.json").read_text())["items"]
    assert item["runner"]["gguf_type"] == "Q4_0"
    assert item["runner"]["flash_attn"] is True
    assert item["metrics"]["generation"]["exact_match"] > 0.8 and item["metrics"]["tpot"]["p50_ms"] > 0


@llama
@pytest.mark.slow
def test_a_paired_gate_times_llamacpp_decode_steps_from_each_prompts_cache(pytester: pytest.Pytester) -> None:
    root = Path(pytester.path)
    (root / "suite.yaml").write_text(SUITE.format(models="", quantizations="int4_weight"))
    args = ("--aibench", "suite.yaml", "-p", "no:cacheprovider")
    pytester.runpytest(*args, "--aibench-save", "base").assert_outcomes(passed=1)
    r = pytester.runpytest(*args, "--aibench-against", "base", "--aibench-fail-on", "latency.p50_ms:+50%",
                           "--aibench-json", "run.json")  # fmt: skip
    r.assert_outcomes(passed=1)
    (item,) = json.loads((root / "run.json").read_text())["items"]
    against = item["info"]["against"]  # every pair restores its prompt's cache (ready) outside the clock
    assert against["status"] == "compared" and against["reference_environment"]["timed"] == "one decode step (TPOT)"
    assert against["reference_accuracy"] == item["metrics"]["generation"]["exact_match"]
