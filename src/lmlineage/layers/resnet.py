"""A ResNet feature extractor (He et al. 2016, "Deep Residual Learning for Image Recognition"),
the CNN backbone DETR reads images through (Carion et al. 2020, section 3.2).

Module names follow ``transformers``' ResNetBackbone (``embedder.embedder.convolution``,
``encoder.stages.{i}.layers.{j}.layer.{k}``, ``shortcut``), so a reference checkpoint's backbone maps
onto it name for name. The stem is a 7x7 stride-2 convolution and a 3x3 stride-2 max pool; each
stage after the first halves the side in its first layer (the stride on the 3x3 convolution, as
torchvision's "ResNet v1.5"); a residual layer is ``act(branch(x) + shortcut(x))`` with a 1x1
projection shortcut where the width or side changes (option B of section 3.3).

Normalization: DETR keeps its ImageNet backbone's batch statistics frozen (the reference's
FrozenBatchNorm2d: ``x * w / sqrt(var + eps) + b - mean * w / sqrt(var + eps)``); trained from
scratch here, the statistics are learned as BatchNorm learns them and frozen in eval mode, where
the two compute the same function.
"""

from __future__ import annotations

import torch
from torch import nn

from .mlp import ACTIVATIONS


class BatchNorm(nn.BatchNorm2d):
    """BatchNorm2d without the ``num_batches_tracked`` counter, which the reference's frozen
    norm does not store (the running averages use the fixed momentum, never the count)."""

    def __init__(self, channels: int):
        super().__init__(channels)
        self.register_buffer("num_batches_tracked", None)


class ConvLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, activation: str | None = "relu"):
        super().__init__()
        self.convolution = nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False)
        self.normalization = BatchNorm(c_out)
        self.act = ACTIVATIONS[activation] if activation is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalization(self.convolution(x))
        return x if self.act is None else self.act(x)


class ShortCut(nn.Module):
    """The 1x1 projection of the residual where the width or the side changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.convolution = nn.Conv2d(c_in, c_out, 1, stride, bias=False)
        self.normalization = BatchNorm(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalization(self.convolution(x))


class ResidualLayer(nn.Module):
    """``act(layer(x) + shortcut(x))``: "basic" two 3x3 convolutions, or the "bottleneck" 1x1 (to a
    quarter of the width), 3x3, 1x1 (section 4.1, fig. 5)."""

    def __init__(self, c_in: int, c_out: int, stride: int, kind: str, activation: str, downsample_in_bottleneck=False):
        super().__init__()
        self.shortcut = ShortCut(c_in, c_out, stride) if c_in != c_out or stride != 1 else nn.Identity()
        if kind == "basic":
            convs = [ConvLayer(c_in, c_out, 3, stride, activation), ConvLayer(c_out, c_out, 3, 1, None)]
        else:
            mid = c_out // 4
            first, middle = (stride, 1) if downsample_in_bottleneck else (1, stride)
            convs = [ConvLayer(c_in, mid, 1, first, activation), ConvLayer(mid, mid, 3, middle, activation),
                     ConvLayer(mid, c_out, 1, 1, None)]
        self.layer = nn.Sequential(*convs)
        self.act = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.layer(x) + self.shortcut(x))


class Stage(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, depth: int, spec):
        super().__init__()
        self.layers = nn.Sequential(*(
            ResidualLayer(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1, spec.layer_type,
                          spec.activation, spec.downsample_in_bottleneck)
            for i in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Stem(nn.Module):
    def __init__(self, channels: int, spec):
        super().__init__()
        self.embedder = ConvLayer(channels, spec.embedding_size, 7, 2, spec.activation)
        self.pooler = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pooler(self.embedder(x))


class Stages(nn.Module):
    def __init__(self, spec):
        super().__init__()
        widths = [spec.embedding_size, *spec.hidden_sizes]
        self.stages = nn.ModuleList(
            Stage(widths[i], widths[i + 1], 2 if i > 0 or spec.downsample_in_first_stage else 1, depth, spec)
            for i, depth in enumerate(spec.depths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x


class ResNet(nn.Module):
    """(B, C, H, W) pixels -> the last stage's feature map (B, hidden_sizes[-1], H / stride, W / stride)."""

    def __init__(self, channels: int, spec):
        super().__init__()
        self.embedder = Stem(channels, spec)
        self.encoder = Stages(spec)
        self.channels = spec.hidden_sizes[-1]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He et al. 2015's normal init (fan out) for the convolutions, unit norms; the last norm of
        each residual branch starts at zero, so every layer starts as its shortcut (Goyal et al.
        2017, section 5.1), which lets the stack train from scratch."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, ResidualLayer):
                nn.init.zeros_(module.layer[-1].normalization.weight)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embedder(pixels))
