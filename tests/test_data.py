"""Datasets: seeded, reproducible, any size; fingerprints change exactly when data does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, fingerprint, materialize, split
from pytest_aibench.data.procedural import generate, render
from pytest_aibench.data.transforms import resize_bilinear


@given(st.integers(0, 2**31), st.integers(0, 10_000), st.sampled_from([32, 48, 64, 224]))
@settings(max_examples=25, deadline=None)
def test_procedural_images_are_a_pure_function_of_seed_and_index(seed, index, size):
    a, la = render(seed, index, size, 10)
    b, lb = render(seed, index, size, 10)
    assert np.array_equal(a, b) and la == lb == index % 10
    assert a.shape == (3, size, size) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1


def test_any_count_is_a_prefix_of_a_larger_one_and_classes_are_balanced():
    x_small, y_small = generate(3, 50, 32, 10)
    x_big, y_big = generate(3, 200, 32, 10)
    assert np.array_equal(x_small, x_big[:50]) and np.array_equal(y_small, y_big[:50])
    assert np.bincount(y_big).tolist() == [20] * 10


def test_the_same_scene_renders_at_every_resolution():
    small, _ = render(0, 7, 32, 10)
    large, _ = render(0, 7, 224, 10)
    shrunk = resize_bilinear(large[None], 32)[0]
    assert np.abs(shrunk - small).mean() < 0.08  # same figure, colours and place; only sampling differs


def test_seeded_split_and_fingerprint():
    x, y = generate(0, 100, 16, 5)
    a, b = split(x, y, 0.25, 0), split(x, y, 0.25, 0)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(split(x, y, 0.25, 1)[3], a[3])
    assert fingerprint(*a) == fingerprint(*b) != fingerprint(*split(x, y, 0.25, 1))


def test_digits_upscaled_and_shapes_sources():
    d = materialize(DatasetSpec(name="d", source="digits", params={"size": 32, "channels": 3}))
    assert d.x_eval.shape[1:] == (3, 32, 32) and d.meta["transform"] == "bilinear 8x8 -> 32x32"
    s = materialize(DatasetSpec(name="s", source="shapes", params={"samples": 200, "size": 40, "classes": 4}))
    assert s.num_classes == 4 and s.x_train.shape[1:] == (3, 40, 40) and len(s.y_eval) == 50
    with pytest.raises(DatasetError, match="size must be within 8..320"):
        materialize(DatasetSpec(name="s", source="shapes", params={"size": 512}))


@given(st.integers(0, 2**31), st.integers(0, 5_000))
@settings(max_examples=20, deadline=None)
def test_scenario_generators_are_pure_functions_of_seed_and_index(seed, index):
    from pytest_aibench.data import scenes, vitals

    for render_fn, args in (
        (vitals.render, (48, 0.3)),
        (scenes.render_sign, (32, 8)),
        (scenes.render_person, (32, 30, 3)),
    ):
        a, la = render_fn(seed, index, *args)
        b, lb = render_fn(seed, index, *args)
        assert np.array_equal(a, b) and la == lb and a.dtype == np.float32 and np.isfinite(a).all()
    assert scenes.render_sign(seed, index, 32, 8)[1] == index % 8
    assert scenes.render_person(seed, index, 32, 30, 3)[1] == index % 30


def test_vitals_label_deterioration_the_signals_show():
    from pytest_aibench.data.vitals import POP_MEAN, POP_SCALE, generate

    x, y = generate(0, 600, 48, 0.3)
    assert x.shape == (600, 48, 5) and 0.24 < y.mean() < 0.36
    hr = x[:, :, 0] * POP_SCALE[0] + POP_MEAN[0]
    late_rise = hr[:, -8:].mean(1) - hr[:, :8].mean(1)
    assert late_rise[y == 1].mean() > late_rise[y == 0].mean() + 5  # deteriorating patients' HR climbs
    with pytest.raises(ValueError, match="positive_fraction"):
        generate(0, 10, 48, 1.5)


def test_re_id_views_of_one_identity_match_across_cameras():
    from pytest_aibench.data.scenes import render_person

    def torso(index):  # mean colour of the figure's centre, normalised against the camera's brightness
        img, label = render_person(0, index, 32, 30, 3)
        c = img[:, 10:16, 13:19].reshape(3, -1).mean(1)
        return c / (c.sum() + 1e-6), label

    cam0 = [torso(i) for i in range(30)]  # each identity once by camera 0
    cam1 = [torso(i + 30) for i in range(30)]  # and once by camera 1
    hits = sum(min(range(30), key=lambda j: np.abs(cam1[j][0] - f).sum()) == i for i, (f, _) in enumerate(cam0))
    assert [label for _, label in cam0] == [label for _, label in cam1] == list(range(30))
    assert hits >= 4  # crude colour matching re-identifies well above chance (P(>=4 of 30 by chance) < 0.5 %)


def test_scenario_sources_and_their_parameter_errors():
    v = materialize(DatasetSpec(name="v", source="vitals", params={"samples": 120, "steps": 24}))
    assert v.layout == "NTC" and v.x_train.shape[1:] == (24, 5) and v.num_classes == 2
    r = materialize(DatasetSpec(name="r", source="reid", params={"samples": 120, "identities": 12}))
    assert r.num_classes == 12 and r.x_eval.shape[1:] == (3, 32, 32)
    f = materialize(DatasetSpec(name="f", source="lfw_subset"))
    assert f.num_classes == 2 and f.x_eval.shape[1:] == (1, 25, 25) and len(f.y_eval) + len(f.y_train) == 200
    with pytest.raises(DatasetError, match="unknown params colour for source 'signs'; known: samples, size"):
        materialize(DatasetSpec(name="s", source="signs", params={"colour": 1}))
    with pytest.raises(DatasetError, match="params.steps must be an integer, got .long."):
        materialize(DatasetSpec(name="v", source="vitals", params={"steps": "long"}))
