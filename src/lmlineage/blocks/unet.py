"""The text-conditioned U-Net (Ho et al. 2020, appendix B; Rombach et al. 2022, section 3.3):
ResNet blocks carrying the step embedding, and at the levels ``UNetSpec.attention`` names a
Transformer over the pixels whose blocks are the shared pre-LN ``Block`` with cross-attention to
the text (self-attention, cross-attention, a GeGLU feed-forward). Laid out as diffusers'
``UNet2DConditionModel`` (CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn, the up
blocks mirrored), so its checkpoints map onto it by rules and every block's output can be compared."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..core.config import ModelConfig
from ..core.diffusion import UNetSpec
from ..layers.unet_convs import Downsample, ResnetBlock, Upsample
from ..layers.timestep import TimestepEmbedding
from .block import Block


def pixel_transformer_config(channels: int, spec: UNetSpec) -> ModelConfig:
    """The shared block's config at one width: pre-LN, q/k/v without biases, a GeGLU 4x wide."""
    return ModelConfig.from_dict(dict(
        family="unet", vocab_size=1, max_positions=1, d_model=channels, n_layer=spec.transformer_layers, bias=True,
        attention=dict(n_head=spec.heads, qkv_bias=False), mlp=dict(kind="glu", activation="gelu", d_ff=4 * channels),
        norm=dict(kind="layernorm", eps=1e-5, placement="pre", final=False), position=dict(kind="none")))


class PixelTransformer(nn.Module):
    """x + proj_out(blocks(proj_in(norm(x)) as H*W tokens, text)): diffusers' Transformer2DModel."""

    def __init__(self, channels: int, spec: UNetSpec, text_dim: int):
        super().__init__()
        cfg = pixel_transformer_config(channels, spec)
        self.norm = nn.GroupNorm(spec.groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList(Block(cfg, i, cross_attention=True, memory_dim=text_dim)
                                                for i in range(spec.transformer_layers))
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, text, text_mask=None):
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        for block in self.transformer_blocks:
            y = block(y, encoder_out=text, encoder_mask=text_mask)
        return x + self.proj_out(y.reshape(b, h, w, c).permute(0, 3, 1, 2))


class DownBlock(nn.Module):
    def __init__(self, in_channels, out_channels, emb, spec: UNetSpec, attention: bool, text_dim, downsample: bool):
        super().__init__()
        n = spec.layers_per_block
        self.resnets = nn.ModuleList(ResnetBlock(in_channels if i == 0 else out_channels, out_channels, emb,
                                                 spec.groups, spec.eps) for i in range(n))
        self.attentions = nn.ModuleList(PixelTransformer(out_channels, spec, text_dim) for _ in range(n)) \
            if attention else None
        self.downsamplers = nn.ModuleList([Downsample(out_channels)]) if downsample else None

    def forward(self, x, emb, text, text_mask):
        skips = []
        for i, resnet in enumerate(self.resnets):
            x = resnet(x, emb)
            if self.attentions is not None:
                x = self.attentions[i](x, text, text_mask)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class MidBlock(nn.Module):
    def __init__(self, channels, emb, spec: UNetSpec, text_dim):
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock(channels, channels, emb, spec.groups, spec.eps) for _ in range(2))
        self.attentions = nn.ModuleList([PixelTransformer(channels, spec, text_dim)])

    def forward(self, x, emb, text, text_mask):
        x = self.resnets[0](x, emb)
        return self.resnets[1](self.attentions[0](x, text, text_mask), emb)


class UpBlock(nn.Module):
    """``layers_per_block + 1`` ResNet blocks, each reading the skip connection of its mirror
    image concatenated to its input."""

    def __init__(self, skip_channels: list[int], previous, out_channels, emb, spec: UNetSpec, attention: bool,
                 text_dim, upsample: bool):
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock((previous if i == 0 else out_channels) + skip, out_channels, emb,
                                                 spec.groups, spec.eps) for i, skip in enumerate(skip_channels))
        self.attentions = nn.ModuleList(PixelTransformer(out_channels, spec, text_dim) for _ in skip_channels) \
            if attention else None
        self.upsamplers = nn.ModuleList([Upsample(out_channels)]) if upsample else None

    def forward(self, x, skips: list, emb, text, text_mask):
        for i, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips.pop()], dim=1), emb)
            if self.attentions is not None:
                x = self.attentions[i](x, text, text_mask)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class UNet(nn.Module):
    """(B, C, H, W) noisy images, (B,) steps, (B, S, text_dim) text states -> (B, C, H, W)."""

    def __init__(self, spec: UNetSpec, in_channels: int, out_channels: int, text_dim: int):
        super().__init__()
        self.spec = spec
        widths, levels = spec.channels, len(spec.channels)
        emb = 4 * widths[0]
        self.conv_in = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(widths[0], emb)
        # diffusers' class_embed_type="projection": a vector (the pooled caption) added to the step's
        self.class_embedding = None if spec.class_dim is None else TimestepEmbedding(spec.class_dim, emb, features=False)
        self.down_blocks = nn.ModuleList()
        skip_channels = [widths[0]]
        for level, width in enumerate(widths):
            last = level == levels - 1
            self.down_blocks.append(DownBlock(widths[max(level - 1, 0)], width, emb, spec, spec.attention[level],
                                              text_dim, downsample=not last))
            skip_channels += [width] * (spec.layers_per_block + (0 if last else 1))
        self.mid_block = MidBlock(widths[-1], emb, spec, text_dim)
        self.up_blocks = nn.ModuleList()
        previous = widths[-1]
        for level in reversed(range(levels)):
            skips = [skip_channels.pop() for _ in range(spec.layers_per_block + 1)]
            self.up_blocks.append(UpBlock(skips, previous, widths[level], emb, spec, spec.attention[level], text_dim,
                                          upsample=level > 0))
            previous = widths[level]
        self.conv_norm_out = nn.GroupNorm(spec.groups, widths[0], eps=spec.eps)
        self.conv_out = nn.Conv2d(widths[0], out_channels, 3, padding=1)

    def forward(self, x, t, text, text_mask=None, block_outputs: list | None = None, pooled=None):
        """``t``: (B,) or a scalar step; ``text_mask``: (B, S), 1 at real tokens, or None;
        ``block_outputs``: a list each down, middle and up block appends its output to; ``pooled``
        (B, class_dim): the vector the class embedding reads."""
        if not torch.is_tensor(t) or t.dim() == 0:
            t = torch.as_tensor(t, device=x.device).reshape(1)
        emb = self.time_embedding(t.expand(x.shape[0]))
        if self.class_embedding is not None:
            emb = emb + self.class_embedding(pooled)
        mask = None if text_mask is None else text_mask.bool()[:, None, None, :]
        x = self.conv_in(x)
        skips = [x]
        for block in self.down_blocks:
            x, more = block(x, emb, text, mask)
            skips += more
            _note(block_outputs, x)
        x = self.mid_block(x, emb, text, mask)
        _note(block_outputs, x)
        for block in self.up_blocks:
            x = block(x, skips, emb, text, mask)
            _note(block_outputs, x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


def _note(outputs: list | None, x: torch.Tensor) -> None:
    if outputs is not None:
        outputs.append(x)
