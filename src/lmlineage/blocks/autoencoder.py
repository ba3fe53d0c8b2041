"""The KL-regularized autoencoder of latent diffusion (Rombach et al. 2022, section 3.1, appendix
G): an encoder of ResNet blocks and downsampling to a Gaussian per latent pixel, a middle of
ResNet, one-head pixel attention, ResNet, and a decoder mirroring it. Laid out as diffusers'
``AutoencoderKL`` (Encoder, Decoder, quant_conv, post_quant_conv) so its checkpoints map by rules."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..core.diffusion import AutoencoderSpec
from ..layers.unet_convs import Downsample, PixelAttention, ResnetBlock, Upsample

EPS = 1e-6  # every GroupNorm of the autoencoder


class EncoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, spec: AutoencoderSpec, downsample: bool):
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock(in_channels if i == 0 else out_channels, out_channels, None,
                                                 spec.groups, EPS) for i in range(spec.layers_per_block))
        self.downsamplers = nn.ModuleList([Downsample(out_channels, pad_after=True)]) if downsample else None

    def forward(self, x):
        for resnet in self.resnets:
            x = resnet(x)
        return x if self.downsamplers is None else self.downsamplers[0](x)


class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, spec: AutoencoderSpec, upsample: bool):
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock(in_channels if i == 0 else out_channels, out_channels, None,
                                                 spec.groups, EPS) for i in range(spec.layers_per_block + 1))
        self.upsamplers = nn.ModuleList([Upsample(out_channels)]) if upsample else None

    def forward(self, x):
        for resnet in self.resnets:
            x = resnet(x)
        return x if self.upsamplers is None else self.upsamplers[0](x)


class Middle(nn.Module):
    def __init__(self, channels, spec: AutoencoderSpec):
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock(channels, channels, None, spec.groups, EPS) for _ in range(2))
        self.attentions = nn.ModuleList([PixelAttention(channels, spec.groups, EPS)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class Encoder(nn.Module):
    def __init__(self, spec: AutoencoderSpec, channels: int):
        super().__init__()
        widths = spec.channels
        self.conv_in = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(EncoderBlock(widths[max(i - 1, 0)], w, spec, downsample=i < len(widths) - 1)
                                         for i, w in enumerate(widths))
        self.mid_block = Middle(widths[-1], spec)
        self.conv_norm_out = nn.GroupNorm(spec.groups, widths[-1], eps=EPS)
        self.conv_out = nn.Conv2d(widths[-1], 2 * spec.latent_channels, 3, padding=1)

    def forward(self, x, block_outputs: list | None = None):
        x = self.conv_in(x)
        for block in self.down_blocks:
            x = block(x)
            _note(block_outputs, x)
        x = self.mid_block(x)
        _note(block_outputs, x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, spec: AutoencoderSpec, channels: int):
        super().__init__()
        widths = list(reversed(spec.channels))
        self.conv_in = nn.Conv2d(spec.latent_channels, widths[0], 3, padding=1)
        self.mid_block = Middle(widths[0], spec)
        self.up_blocks = nn.ModuleList(DecoderBlock(widths[max(i - 1, 0)], w, spec, upsample=i < len(widths) - 1)
                                       for i, w in enumerate(widths))
        self.conv_norm_out = nn.GroupNorm(spec.groups, widths[-1], eps=EPS)
        self.conv_out = nn.Conv2d(widths[-1], channels, 3, padding=1)

    def forward(self, z, block_outputs: list | None = None):
        z = self.mid_block(self.conv_in(z))
        _note(block_outputs, z)
        for block in self.up_blocks:
            z = block(z)
            _note(block_outputs, z)
        return self.conv_out(F.silu(self.conv_norm_out(z)))


class Posterior:
    """A diagonal Gaussian per latent pixel from (mean, log-variance) stacked on the channels."""

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, generator=None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) summed over each sample's latent: (B,)."""
        return 0.5 * (self.mean ** 2 + self.std ** 2 - 1.0 - self.logvar).sum(dim=(1, 2, 3))


class AutoencoderKL(nn.Module):
    def __init__(self, spec: AutoencoderSpec, channels: int):
        super().__init__()
        self.encoder = Encoder(spec, channels)
        self.decoder = Decoder(spec, channels)
        self.quant_conv = nn.Conv2d(2 * spec.latent_channels, 2 * spec.latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(spec.latent_channels, spec.latent_channels, 1)

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior(self.quant_conv(self.encoder(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z))


def _note(outputs: list | None, x: torch.Tensor) -> None:
    if outputs is not None:
        outputs.append(x)
