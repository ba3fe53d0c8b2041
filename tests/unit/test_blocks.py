"""Golden cases for shared pieces: sinusoidal positions and masks."""

import math

import torch

from lmlineage.core import masks
from lmlineage.layers.positions import SinusoidalPositions


def test_sinusoidal_matches_the_paper_formula():
    table = SinusoidalPositions(50, 8).table
    for pos in (0, 1, 7, 49):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert math.isclose(table[pos, 2 * i], math.sin(angle), abs_tol=1e-6)
            assert math.isclose(table[pos, 2 * i + 1], math.cos(angle), abs_tol=1e-6)


def test_plain_causal_builds_no_tensor():
    assert masks.build(8, 8, is_causal=True) == (None, True)
    assert masks.build(1, 9, is_causal=True) == (None, False)  # one new token sees the whole cache


def test_causal_with_padding_and_offset():
    key_mask = torch.tensor([[0, 1, 1, 1]])
    mask, is_causal = masks.build(2, 4, is_causal=True, key_mask=key_mask, query_index=torch.tensor([2, 3]))
    assert not is_causal
    assert mask[0, 0].tolist() == [[False, True, True, False], [False, True, True, True]]


def test_fully_masked_rows_stay_finite():
    key_mask = torch.tensor([[0, 0, 1]])
    mask, _ = masks.build(3, 3, is_causal=True, key_mask=key_mask)
    assert mask[0, 0, 0].all()  # padding query row: sees everything, never NaN
