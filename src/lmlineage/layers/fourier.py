"""Random Fourier features of 2-D points (Tancik et al. 2020, "Fourier Features Let Networks Learn
High Frequency Functions in Low Dimensional Domains"), SAM's positional encoding of prompts and of
the image embedding's grid (Kirillov et al. 2023, appendix A): a point p in [0, 1]^2 becomes
[sin(2 pi (2p - 1) G), cos(2 pi (2p - 1) G)] for a random Gaussian G (2, n), drawn once and kept
fixed (a buffer: never trained)."""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierPositions(nn.Module):
    def __init__(self, features: int, scale: float = 1.0):
        super().__init__()
        self.register_buffer("gaussian", scale * torch.randn(2, features))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 2) points (x, y) in [0, 1] -> (..., 2 * features)."""
        angles = 2 * math.pi * ((2 * points - 1).to(self.gaussian.dtype) @ self.gaussian)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)

    def grid(self, side: int) -> torch.Tensor:
        """(2 * features, side, side): the encoding of each cell's centre of a side x side grid."""
        centres = (torch.arange(side, device=self.gaussian.device, dtype=self.gaussian.dtype) + 0.5) / side
        y, x = torch.meshgrid(centres, centres, indexing="ij")
        return self(torch.stack([x, y], dim=-1)).permute(2, 0, 1)
