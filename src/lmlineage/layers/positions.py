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
    PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)).

    ``layout="halves"`` puts all the sines first, then all the cosines, as tensor2tensor and CTRL
    (Keskar et al. 2019) do; its angles are computed as CTRL's released code computes them
    (10000 raised to the power in float32), so its checkpoints reproduce to the last bit."""

    def __init__(self, max_positions: int, dim: int, layout: str = "interleaved"):
        super().__init__()
        position = torch.arange(max_positions, dtype=torch.float32)[:, None]
        if layout == "halves":
            angle = position * (1 / torch.pow(10000, torch.arange(0, dim, 2, dtype=torch.float32) / dim))
            table = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
        else:
            inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
            table = torch.zeros(max_positions, dim)
            table[:, 0::2] = torch.sin(position * inv_freq)
            table[:, 1::2] = torch.cos(position * inv_freq)[:, : dim // 2]
        self.register_buffer("table", table, persistent=False)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return self.table[positions]


class TwoDimensionalPositions(nn.Module):
    """GLM's 2-D positions (Du et al. 2021, section 2.2.2): a learned table for the position in
    the corrupted text (Part B tokens take their [MASK]'s position) plus a learned table for the
    position inside a span (0 throughout Part A, 1, 2, ... in each Part B span).

    ``positions`` is (B, T) — then every intra-span position is 0 — or (B, 2, T)."""

    def __init__(self, max_positions: int, dim: int):
        super().__init__()
        self.position = nn.Embedding(max_positions, dim)
        self.block_position = nn.Embedding(max_positions, dim)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        if positions.dim() == 2:
            return self.position(positions) + self.block_position.weight[0]
        return self.position(positions[:, 0]) + self.block_position(positions[:, 1])


def make_positions(kind: str, max_positions: int, dim: int) -> nn.Module | None:
    if kind == "learned":
        return LearnedPositions(max_positions, dim)
    if kind in ("sinusoidal", "sinusoidal_halves"):
        return SinusoidalPositions(max_positions, dim, "halves" if kind == "sinusoidal_halves" else "interleaved")
    if kind == "learned_2d":
        return TwoDimensionalPositions(max_positions, dim)
    return None  # relative schemes live in attention
