"""The pre-LN block of a windowed ViT (ViTDet, Li et al. 2022; SAM's image encoder): tokens on a
g x g grid attend within non-overlapping ``window`` x ``window`` squares (the grid zero-padded
after the norm to a multiple of the window), or across the whole grid where ``window`` is None;
each attention adds decomposed relative positions of its square (``layers/decomposed_position.py``).

    x = x + unwindow(attn(window(norm1(x))));  x = x + mlp(norm2(x))
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..core.config import ModelConfig
from ..layers.decomposed_position import DecomposedRelativePosition
from .block import Block


def partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, H, W, C) -> (B * windows, window * window, C), zero-padded; and the padded (H, W)."""
    b, h, w, c = x.shape
    x = F.pad(x, (0, 0, 0, -w % window, 0, -h % window))
    hp, wp = x.shape[1:3]
    x = x.view(b, hp // window, window, wp // window, window, c).transpose(2, 3)
    return x.reshape(-1, window * window, c), (hp, wp)


def unpartition(windows: torch.Tensor, window: int, padded: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """The inverse of :func:`partition`: (B * windows, window * window, C) -> (B, H, W, C)."""
    (hp, wp), (h, w) = padded, size
    b = windows.shape[0] // (hp // window * wp // window)
    x = windows.view(b, hp // window, wp // window, window, window, -1).transpose(2, 3)
    return x.reshape(b, hp, wp, -1)[:, :h, :w]


class WindowedBlock(Block):
    def __init__(self, cfg: ModelConfig, layer: int, grid: int, window: int | None):
        positions = DecomposedRelativePosition(window or grid, cfg.attention.dim_head(cfg.d_model))
        super().__init__(cfg, layer, score_mod=positions.__call__)
        self.window = window
        self.rel_pos = positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, H, W, C)."""
        b, h, w, c = x.shape
        normed = self.attn_norm(x)
        if self.window is None:
            attended = self.attn(normed.reshape(b, h * w, c)).view(b, h, w, c)
        else:
            windows, padded = partition(normed, self.window)
            attended = unpartition(self.attn(windows), self.window, padded, (h, w))
        x = x + self.drop(attended)
        return x + self.drop(self.mlp(self.mlp_norm(x)))
