"""The speech, language, recommendation and video networks at published size: counted parameters and
MACs against the papers', shapes their tasks read, the lock describing them, and the data sources that
feed them (click logs in Criteo's shape, QA padded to 384, 80-band speech)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, clicks, materialize

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from pytest_aibench.builder import cache  # noqa: E402
from pytest_aibench.zoo import build_module  # noqa: E402
from pytest_aibench.zoo.published_seq import PUBLISHED_SEQ  # noqa: E402

#: what each task reads from one sample's raw output, by the sample's input shape
OUTPUTS = {
    "question_answering": lambda shape: (1, shape[0], 2),  # span start/end logits per token
    "speech_recognition": lambda shape: (1, shape[0] // 6, 29),  # spliced by 3, stacked by 2; 28 labels + blank
    "recommendation": lambda shape: (1, shape[0]),  # one score per candidate
    "action": lambda shape: (1, 400),  # Kinetics' classes
    None: lambda shape: (1, 2),  # click-through: (0, z) logits
}


def _meta(name: str):
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        return build_module(name, {}).eval()


def _macs(model, shape) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.empty(1, *shape, device="meta"))
    return counter.get_total_flops() / 2, tuple(out.shape)


@pytest.mark.parametrize("name", sorted(PUBLISHED_SEQ))
def test_parameters_macs_and_outputs_match_the_published_configuration(name):
    spec = PUBLISHED_SEQ[name]
    model = _meta(name)
    counted = sum(p.numel() for p in model.parameters())
    assert abs(counted / spec.params - 1) < 0.05, f"{name}: {counted} parameters, published {spec.params:.0f}"
    macs, out = _macs(model, spec.input)
    assert out == OUTPUTS[spec.task](spec.input)
    if spec.macs is not None:
        at = spec.macs_input or spec.input
        published, _ = _macs(model, at)
        assert abs(published / spec.macs - 1) < 0.05, f"{name}: {published:.4g} MACs at {at}"
    assert macs > 0


def test_bert_large_is_bert_base_scaled_and_rnnt_counts_its_fused_lstms_analytically():
    base, large = _meta("bert_base_384"), _meta("bert_large_384")
    assert len(large.layers) == 2 * len(base.layers) and large.span.in_features == 1024
    rnnt = build_module("rnnt_mlperf", {})
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        _meta("rnnt_mlperf")(torch.empty(2, 300, 80, device="meta"))
    assert rnnt.analytic_flops((2, 300, 80)) == counter.get_total_flops()


def test_the_lock_describes_each_sequence_model_as_its_table_does():
    lock = cache.lock()["models"]
    for name, spec in PUBLISHED_SEQ.items():
        entry = lock[name]
        assert cache.input_of(entry) == spec.input and entry["layout"] == spec.layout, name
        assert (entry["params"], entry["macs"], entry.get("task")) == (spec.params, spec.macs, spec.task), name
        assert set(entry["sha256"]) == set(entry["pin"]) == set(entry["variants"]), name
        assert all(len(d) == 64 for d in entry["sha256"].values()), name


@pytest.fixture(scope="module")
def ncf_built(tmp_path_factory):
    """NCF at MovieLens-20M's size (32 M parameters, the smallest to build) built as first use builds it."""
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("cache") / "models"
    return root, cache.build("ncf_ml20m", root, cache.Progress(quiet=True), ("torch/fp32", "onnxruntime/fp32"))


def test_a_sequence_model_builds_to_the_locked_bytes_with_its_own_input(ncf_built):
    root, card = ncf_built
    pinned = cache.lock()["models"]["ncf_ml20m"]["sha256"]
    for key in ("torch/fp32", "onnxruntime/fp32"):
        assert card["artifacts"][key]["sha256"] == pinned[key], key
    assert card["input"]["shape"] == [None, 100, 2] and card["input"]["layout"] == "NTC"
    assert card["task"] == "recommendation" and card["trained"] is False
    saved = json.loads((root / "ncf_ml20m" / "card.json").read_text())
    assert saved["flops"] == {"2": card["flops"]["2"]} and card["flops"]["2"] > 0


# -- the data that feeds them -------------------------------------------------------------------------
def _load(source: str, **params):
    return materialize(DatasetSpec(name="d", source=source, eval_fraction=0.5, params=params))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), rows=st.sampled_from([0, 3, 50, 1000]), ctr=st.floats(0.05, 0.6))
def test_click_logs_respect_their_tables_and_click_rate_and_repeat_by_seed(seed, rows, ctr):
    x, y = clicks.generate(seed, 400, rows, ctr)
    x2, y2 = clicks.generate(seed, 400, rows, ctr)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    ids = x[:, clicks.DENSE :]
    assert x.shape == (400, 39) and np.all(ids >= 0) and np.all(ids == np.round(ids))
    assert np.all(ids < np.array(clicks.tables(rows)))
    assert abs(y.mean() - ctr) < 0.12  # the logit's threshold gives the rate; the logistic noise blurs it


def test_clicks_qa_and_speech_params_shape_what_the_published_models_take():
    d = _load("clicks", samples=64, rows=0, seed=1)
    assert d.x_eval.shape[1:] == (39,) and d.num_classes == 2 and d.x_eval[:, 13:].max() >= 1000
    qa = _load("qa", samples=8, length=384)
    short = _load("qa", samples=8)
    assert qa.x_eval.shape[1:] == (384,) and np.array_equal(qa.x_eval[:, :48], short.x_eval)
    assert not qa.x_eval[:, 48:].any()
    speech = _load("speech", samples=4, seconds=15.0, bands=80, speakers=2)
    assert speech.x_eval.shape[1:] == PUBLISHED_SEQ["rnnt_mlperf"].input


@pytest.mark.parametrize(
    "source, params, message",
    [
        ("qa", {"length": 40}, "params.length must be within 48..4096"),
        ("speech", {"bands": 4}, "params.bands must be within 8..128"),
        ("clicks", {"rows": -1}, "rows must be 0 (Criteo Kaggle's tables) or a positive cap"),
        ("clicks", {"ctr": 0.99}, "ctr within 0.01..0.9"),
    ],
)
def test_bad_params_for_these_sources_say_which_and_why(source, params, message):
    with pytest.raises(DatasetError, match="dataset 'd'") as err:
        _load(source, samples=8, **params)
    assert message in str(err.value)
