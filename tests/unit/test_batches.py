"""Evaluation windows: every held-out token predicted once, and the batch count the progress bar shows."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lmlineage.data.batches import packed_window_batches, packed_windows


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 400), context=st.integers(1, 40), batch_size=st.integers(1, 9),
       max_batches=st.one_of(st.none(), st.integers(1, 12)))
def test_packed_window_batches_counts_what_packed_windows_yields(n, context, batch_size, max_batches):
    tokens = np.arange(n, dtype=np.int64)
    batches = list(packed_windows(tokens, context, batch_size, max_batches))
    assert packed_window_batches(n, context, batch_size, max_batches) == len(batches)
    if max_batches is None:  # the whole split: every token after the first is a target exactly once
        targets = np.concatenate([y.reshape(-1).numpy() for _, y in batches]) if batches else np.array([])
        assert sorted(targets.tolist()) == list(range(1, n))
