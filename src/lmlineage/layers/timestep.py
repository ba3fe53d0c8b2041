"""The diffusion step as a vector: sinusoids of t (Vaswani et al. 2017, section 3.5, as Ho et al.
2020, appendix B, feed t to the U-Net), then a two-layer MLP with SiLU. Computed as diffusers'
``Timesteps(flip_sin_to_cos=True, downscale_freq_shift=0)`` computes it (cosines first)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def timestep_features(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) steps (integers or reals) -> (B, dim): [cos(t w_i), sin(t w_i)], w_i = max_period^(-i/half)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t[:, None].float() * frequencies[None, :]
    features = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    return F.pad(features, (0, 1)) if dim % 2 else features


class TimestepEmbedding(nn.Module):
    """``linear_2(silu(linear_1(features)))``; ``features=False``: of the input vector itself
    (a class or caption embedding)."""

    def __init__(self, dim: int, out: int, features: bool = True):
        super().__init__()
        self.dim, self.features = dim, features
        self.linear_1 = nn.Linear(dim, out)
        self.linear_2 = nn.Linear(out, out)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(timestep_features(t, self.dim) if self.features else t)))
