"""Absolute position schemes added to token embeddings.

Relative schemes (rotary, ALiBi, T5 buckets) act inside attention instead and live
beside it as ``qk_transform`` / ``score_bias`` hooks.
"""

import math

import torch
from torch import nn


class LearnedPositions(nn.Embedding):
    """A learned vector per position (GPT-1/2, BERT)."""

    def __init__(self, max_positions: int, dim: int):
        super().__init__(max_positions, dim)


class SinusoidalPositions(nn.Module):
    """Fixed sines and cosines of geometric wavelengths (Vaswani et al. 2017, section 3.5):
    PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))."""

    def __init__(self, max_positions: int, dim: int):
        super().__init__()
        position = torch.arange(max_positions, dtype=torch.float32)[:, None]
        inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        table = torch.zeros(max_positions, dim)
        table[:, 0::2] = torch.sin(position * inv_freq)
        table[:, 1::2] = torch.cos(position * inv_freq)[:, : dim // 2]
        self.register_buffer("table", table, persistent=False)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return self.table[positions]


def make_positions(kind: str, max_positions: int, dim: int) -> nn.Module | None:
    if kind == "learned":
        return LearnedPositions(max_positions, dim)
    if kind == "sinusoidal":
        return SinusoidalPositions(max_positions, dim)
    return None  # relative schemes live in attention
