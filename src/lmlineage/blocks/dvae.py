"""DALL-E's discrete VAE (Ramesh et al. 2021, section 2.1 and appendix A): an encoder of ResNet
blocks and strided downsampling to logits over a codebook at every cell of a grid a factor
2^(levels-1) smaller a side; a relaxed one-hot over the codes (Gumbel-softmax, ``layers.gumbel``)
picks a mix of codebook vectors, which the decoder (the mirror image, nearest-neighbour upsampling)
turns back into pixels. Trained, an image is the argmax code of each cell: a grid of tokens.
The paper's logit-Laplace likelihood is replaced here by the mean squared error on [-1, 1] pixels
(the same choice latent diffusion's autoencoder makes here)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..core.dall_e import DiscreteVAESpec
from ..layers.gumbel import gumbel_softmax
from ..layers.unet_convs import Downsample, ResnetBlock, Upsample

EPS = 1e-6  # GroupNorm's


class DiscreteVAE(nn.Module):
    def __init__(self, spec: DiscreteVAESpec, channels: int):
        super().__init__()
        self.spec = spec
        widths, g = spec.channels, spec.groups
        self.conv_in = nn.Conv2d(channels, widths[0], 3, padding=1)
        down, width = [], widths[0]
        for level, out in enumerate(widths):
            for _ in range(spec.layers_per_block):
                down.append(ResnetBlock(width, out, None, g, EPS))
                width = out
            if level < len(widths) - 1:
                down.append(Downsample(width))
        self.encoder = nn.Sequential(*down, nn.GroupNorm(g, width, eps=EPS), nn.SiLU(),
                                     nn.Conv2d(width, spec.codebook, 1))
        self.codebook = nn.Embedding(spec.codebook, spec.code_dim)
        up, width = [nn.Conv2d(spec.code_dim, widths[-1], 1)], widths[-1]
        for level, out in reversed(list(enumerate(widths))):
            for _ in range(spec.layers_per_block):
                up.append(ResnetBlock(width, out, None, g, EPS))
                width = out
            if level > 0:
                up.append(Upsample(width))
        self.decoder = nn.Sequential(*up, nn.GroupNorm(g, width, eps=EPS), nn.SiLU(),
                                     nn.Conv2d(width, channels, 3, padding=1))

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [-1, 1] -> (B, codebook, H/f, W/f) logits over the codes of each cell."""
        return self.encoder(self.conv_in(pixels))

    def decode_mix(self, weights: torch.Tensor) -> torch.Tensor:
        """(B, codebook, h, w) weights over the codes (one-hot or relaxed) -> (B, C, H, W) pixels."""
        vectors = torch.einsum("bkhw,kd->bdhw", weights, self.codebook.weight)
        return self.decoder(vectors)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, h, w) code ids -> (B, C, H, W) pixels."""
        return self.decoder(self.codebook(codes).permute(0, 3, 1, 2))

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, h, w) code ids: each cell's likeliest code (the tokens the Transformer learns)."""
        return self.logits(pixels).argmax(1)

    def losses(self, pixels: torch.Tensor, temperature: float, hard: bool = False,
               generator: torch.Generator | None = None) -> dict:
        """The relaxed ELBO's terms: the reconstruction error of the decoded Gumbel-softmax mix,
        and the KL from each cell's code distribution to the uniform prior (mean over cells, nats)."""
        logits = self.logits(pixels)
        weights = gumbel_softmax(logits, temperature, hard=hard, dim=1, generator=generator)
        log_q = logits.float().log_softmax(1)
        kl = (log_q.exp() * (log_q + torch.log(torch.tensor(float(self.spec.codebook))))).sum(1).mean()
        return {"reconstruction": F.mse_loss(self.decode_mix(weights), pixels), "kl": kl}
