"""Datasets: seeded, reproducible, any size; fingerprints change exactly when data does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aibench.data import DatasetError, fingerprint, materialize, split
from pytest_aibench.data.procedural import generate, render
from pytest_aibench.data.transforms import resize_bilinear
from pytest_aibench.manifest.model import DatasetSpec


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
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(split(x, y, 0.25, 1)[3], a[3])
    assert fingerprint(*a) == fingerprint(*b) != fingerprint(*split(x, y, 0.25, 1))


def test_digits_upscaled_and_shapes_sources():
    d = materialize(DatasetSpec(name="d", source="digits", params={"size": 32, "channels": 3}))
    assert d.x_eval.shape[1:] == (3, 32, 32) and d.meta["transform"] == "bilinear 8x8 -> 32x32"
    s = materialize(DatasetSpec(name="s", source="shapes", params={"samples": 200, "size": 40, "classes": 4}))
    assert s.num_classes == 4 and s.x_train.shape[1:] == (3, 40, 40) and len(s.y_eval) == 50
    with pytest.raises(DatasetError, match="size must be within 8..224"):
        materialize(DatasetSpec(name="s", source="shapes", params={"size": 512}))
