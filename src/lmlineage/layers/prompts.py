"""SAM's prompt encoder (Kirillov et al. 2023, section 3 and appendix A): sparse prompts (points,
box corners) become tokens, the Fourier encoding of their place plus a learned embedding of their
kind; a dense prompt (a coarse mask) becomes an image-sized embedding through strided convolutions,
and without one a learned "no mask" embedding covers the grid.

Point labels: 1 a point on the object, 0 a point off it, -1 not a point (the padding SAM adds
where no box follows, which gets its own embedding), -10 padding that is ignored (zeros)."""

from __future__ import annotations

import torch
from torch import nn

from .mlp import ACTIVATIONS
from .norm import ChannelLayerNorm

NEGATIVE, POSITIVE, NOT_A_POINT, IGNORED = 0, 1, -1, -10


class MaskPromptEncoder(nn.Module):
    """A (B, 1, 4g, 4g) mask -> (B, dim, g, g): two stride-2 convolutions with channel norms, then a 1x1."""

    def __init__(self, dim: int, channels: int, eps: float, activation: str = "gelu"):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels // 4, kernel_size=2, stride=2)
        self.norm1 = ChannelLayerNorm(channels // 4, eps=eps)
        self.conv2 = nn.Conv2d(channels // 4, channels, kernel_size=2, stride=2)
        self.norm2 = ChannelLayerNorm(channels, eps=eps)
        self.conv3 = nn.Conv2d(channels, dim, kernel_size=1)
        self.act = ACTIVATIONS[activation]

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.conv1(masks)))
        return self.conv3(self.act(self.norm2(self.conv2(x))))


class PromptEncoder(nn.Module):
    """``kinds``: the embeddings added to a negative point, a positive point, a box's top-left and
    its bottom-right corner; ``image_size``: the side prompts' pixel coordinates refer to."""

    def __init__(self, dim: int, image_size: int, grid: int, mask_channels: int, eps: float):
        super().__init__()
        self.image_size, self.grid = image_size, grid
        self.kinds = nn.Parameter(torch.randn(4, dim))
        self.not_a_point = nn.Parameter(torch.randn(1, dim))
        self.no_mask = nn.Parameter(torch.randn(1, dim))
        self.mask_in = MaskPromptEncoder(dim, mask_channels, eps)

    def _place(self, coords: torch.Tensor, encode) -> torch.Tensor:
        """Pixel coordinates (..., 2) -> their Fourier encoding, at each pixel's centre."""
        return encode((coords + 0.5) / self.image_size)

    def points(self, points: torch.Tensor, labels: torch.Tensor, encode, pad: bool) -> torch.Tensor:
        """(B, P, N, 2) points, (B, P, N) labels -> (B, P, N (+1 with ``pad``), dim)."""
        if pad:  # a "not a point" after the points, where no box corners follow (SAM's released code)
            points = torch.cat([points, points.new_zeros(*points.shape[:2], 1, 2)], dim=2)
            labels = torch.cat([labels, labels.new_full((*labels.shape[:2], 1), NOT_A_POINT)], dim=2)
        x = self._place(points, encode)
        label = labels[..., None]
        x = torch.where(label == NOT_A_POINT, self.not_a_point.to(x.dtype), x)
        x = torch.where(label == IGNORED, torch.zeros_like(x), x)
        x = x + (label == NEGATIVE) * self.kinds[NEGATIVE] + (label == POSITIVE) * self.kinds[POSITIVE]
        return x

    def boxes(self, boxes: torch.Tensor, encode) -> torch.Tensor:
        """(B, P, 4) boxes x0, y0, x1, y1 -> (B, P, 2, dim): the two corners."""
        x = self._place(boxes.reshape(*boxes.shape[:2], 2, 2), encode)
        return x + self.kinds[2:]

    def forward(self, encode, points=None, labels=None, boxes=None, masks=None, batch: int = 1):
        """(sparse tokens (B, P, N, dim) or None, dense embedding (B, dim, g, g))."""
        sparse = []
        if points is not None:
            sparse.append(self.points(points, labels, encode, pad=boxes is None))
            batch = points.shape[0]
        if boxes is not None:
            sparse.append(self.boxes(boxes, encode))
            batch = boxes.shape[0]
        dense = self.mask_in(masks) if masks is not None else \
            self.no_mask.reshape(1, -1, 1, 1).expand(batch, -1, self.grid, self.grid)
        return (torch.cat(sparse, dim=2) if sparse else None), dense
