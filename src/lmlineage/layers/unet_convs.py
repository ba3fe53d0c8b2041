"""The convolutional pieces of a U-Net and its autoencoder (Ho et al. 2020, appendix B; Rombach
et al. 2022): a ResNet block with GroupNorm and SiLU (He et al. 2016; Wu & He 2018) that adds the
step embedding between its two convolutions, strided downsampling and nearest-neighbour
upsampling, and the one-head self-attention over pixels of the autoencoder's middle. Parameter
names are diffusers' (``norm1``, ``conv1``, ``time_emb_proj``, ...), so its checkpoints map by name."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .attention import Attention


class ResnetBlock(nn.Module):
    """x + conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(emb))))); a 1x1 convolution on the
    shortcut where the width changes."""

    def __init__(self, in_channels: int, out_channels: int, embedding: int | None, groups: int, eps: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(embedding, out_channels) if embedding else None
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class Downsample(nn.Module):
    """A 3x3 convolution of stride 2; ``pad_after``: padded by one pixel right and below instead
    of one all round (the autoencoder's, as Rombach et al.'s code pads)."""

    def __init__(self, channels: int, pad_after: bool = False):
        super().__init__()
        self.pad_after = pad_after
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0 if pad_after else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)) if self.pad_after else x)


class Upsample(nn.Module):
    """Nearest-neighbour doubling, then a 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class PixelAttention(nn.Module):
    """x + attention(group_norm(x)) over the H*W pixels, one head as wide as the channels: the shared
    attention on the flattened image."""

    def __init__(self, channels: int, groups: int, eps: float):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=eps)
        self.attn = Attention(channels, 1, 1, channels, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.attn(self.group_norm(x).reshape(b, c, h * w).transpose(1, 2))
        return x + y.transpose(1, 2).reshape(b, c, h, w)
