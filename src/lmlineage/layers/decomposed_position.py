"""Decomposed relative positions over a 2-D grid (MViTv2, Li et al. 2022, section 3.1; SAM's image
encoder after ViTDet): the score of the query at (y, x) for the key at (y', x') gains
q . R_h[y - y'] + q . R_w[x - x'], one learned table per axis of 2 * side - 1 rows of head_dim.
Plugs into the shared attention's ``score_mod`` hook; the grid is the square the tokens form."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.errors import UserError


class DecomposedRelativePosition(nn.Module):
    def __init__(self, side: int, head_dim: int):
        super().__init__()
        self.side = side
        self.height = nn.Parameter(torch.zeros(2 * side - 1, head_dim))
        self.width = nn.Parameter(torch.zeros(2 * side - 1, head_dim))

    def _offsets(self, table: torch.Tensor) -> torch.Tensor:
        """(side, side, head_dim): row i, column j holds the table's entry for offset i - j."""
        index = torch.arange(self.side, device=table.device)
        return table[index[:, None] - index[None, :] + self.side - 1]

    def forward(self, q, k, positions, key_positions, attention):
        """``score_mod``: (queries unchanged, the (B, H, T, T) additive bias), T = side * side."""
        b, h, t, d = q.shape
        if math.isqrt(t) != self.side or t != self.side ** 2:
            raise UserError(f"relative positions for a {self.side} x {self.side} grid, got {t} tokens",
                            "give images of the size the model was built for")
        grid = q.reshape(b * h, self.side, self.side, d)
        along_h = torch.einsum("byxc,ykc->byxk", grid, self._offsets(self.height))
        along_w = torch.einsum("byxc,xkc->byxk", grid, self._offsets(self.width))
        return q, (along_h[..., :, None] + along_w[..., None, :]).reshape(b, h, t, t)
