"""Fixed-batch models run in chunks: whatever the batch and the model's fixed size, the joined outputs are
exactly what a model taking any batch gives, for one output and for several named ones."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pytest_aibench.tasks.raw import in_fixed_batches


@given(n=st.integers(1, 40), size=st.integers(1, 9), named=st.booleans())
def test_chunks_of_a_fixed_batch_give_what_any_batch_gives(n, size, named):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    seen = []

    def model(chunk):
        assert len(chunk) == size  # the model only ever sees its fixed batch
        seen.append(len(chunk))
        out = chunk.sum(axis=1, keepdims=True) * 2
        return {"a": out, "b": -out} if named else out

    got = in_fixed_batches(x, size, model)
    want = x.sum(axis=1, keepdims=True) * 2
    if named:
        assert set(got) == {"a", "b"} and np.array_equal(got["a"], want) and np.array_equal(got["b"], -want)
    else:
        assert np.array_equal(got, want)
    assert len(seen) == -(-n // size)
