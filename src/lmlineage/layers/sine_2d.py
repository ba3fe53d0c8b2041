"""2-D sine positions for a grid of image cells (DETR, Carion et al. 2020, appendix A.3).

Vaswani et al.'s sinusoids computed independently for the row and the column: each axis gets half
of the ``dim`` channels, ``sin`` at even and ``cos`` at odd indices of wavelength
``temperature ** (2 * (i // 2) / half)``, of the place normalized to (0, 2 pi] ("normalize=True":
the cell's 1-based index over the side, times ``scale``); the rows' half comes first. DETR adds
them to the queries and keys of every attention layer, never to the values.
"""

from __future__ import annotations

import math

import torch


def sine_2d(height: int, width: int, dim: int, temperature: float = 10000.0, scale: float = 2 * math.pi,
            device=None, dtype=torch.float32) -> torch.Tensor:
    """(height * width, dim) positions, the cells in row-major order (a flattened feature map's)."""
    half = dim // 2
    eps = 1e-6  # the reference's, so normalized places match to the last bit
    rows = torch.arange(1, height + 1, dtype=dtype, device=device)
    cols = torch.arange(1, width + 1, dtype=dtype, device=device)
    rows = rows / (rows[-1:] + eps) * scale
    cols = cols / (cols[-1:] + eps) * scale
    index = torch.arange(half, dtype=torch.int64, device=device).to(dtype)
    wavelengths = temperature ** (2 * torch.div(index, 2, rounding_mode="floor") / half)

    def waves(places: torch.Tensor) -> torch.Tensor:  # (n,) -> (n, half): sin, cos interleaved
        angles = places[:, None] / wavelengths
        return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=2).flatten(1)

    y, x = waves(rows), waves(cols)
    return torch.cat((y[:, None, :].expand(height, width, half), x[None, :, :].expand(height, width, half)),
                     dim=2).reshape(height * width, 2 * half)
