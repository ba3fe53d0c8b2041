"""Text-to-image diffusion models (GLIDE, Nichol et al. 2022; latent diffusion, Rombach et al.
2022): a Transformer text encoder over the caption (the shared encoder stack), a U-Net that
predicts the noise of a noisy image from its step and the caption's states (cross-attention), and
for latent diffusion a KL autoencoder whose latent space the U-Net works in. Sampling is
``diffusion.samplers``' loop; guidance mixes the caption's prediction with the empty caption's."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ..blocks.autoencoder import AutoencoderKL
from ..blocks.init import init_weights
from ..blocks.stack import Stack
from ..blocks.unet import UNet
from ..core.diffusion import DiffusionConfig
from ..diffusion.samplers import guided, make_sampler, sample
from ..diffusion.schedules import NoiseSchedule

SCALE_MOMENTUM = 0.99  # of the running latent standard deviation latent diffusion rescales by


class TextToImage(nn.Module):
    reads = "captions"
    processor = None  # set by ``lmlineage.load`` from the checkpoint's preprocessor_config.json
    tokenizer = None

    def __init__(self, cfg: DiffusionConfig):
        super().__init__()
        self.config = cfg
        self.text = Stack(cfg, causal=False)
        self.text.apply(partial(init_weights, cfg=cfg))
        self.unet = UNet(cfg.unet, cfg.latent_channels, cfg.latent_channels, cfg.d_model)
        self.autoencoder = None
        if cfg.autoencoder is not None:
            self.autoencoder = AutoencoderKL(cfg.autoencoder, cfg.image.channels)
            # 1 / the latents' standard deviation (Rombach et al., section 4.3.2: unit-variance latents)
            self.register_buffer("latent_scale", torch.ones(()))
        d = cfg.diffusion
        self.schedule = NoiseSchedule(d.schedule, d.steps, d.beta_start, d.beta_end, d.prediction)

    @property
    def null_id(self) -> int:
        return self.config.vocab_size - 2

    @property
    def pad_id(self) -> int:
        return self.config.vocab_size - 1

    def uses(self) -> list[str]:
        return ["generate --prompt TEXT --out grid.png (draws)", "eval (held-out denoising loss)"]

    def encode_text(self, ids: torch.Tensor):
        """(B, L) caption ids -> (states (B, L, d), mask (B, L))."""
        mask = (ids != self.pad_id).long()
        hidden, _ = self.text(ids, attention_mask=mask)
        return hidden, mask

    def denoise(self, x, t, text, mask):
        """The U-Net's output; where it has a class embedding, it reads the mean of the caption's
        states (our text encoder reads both ways, so no one token sums the caption as GLIDE's last does)."""
        pooled = None
        if self.unet.class_embedding is not None:
            pooled = (text * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.unet(x, t, text, mask, pooled=pooled)

    @torch.no_grad()
    def track_latent_scale(self, latents: torch.Tensor) -> None:
        """Move the latent scale towards 1 / the standard deviation of these latents (a running mean)."""
        self.latent_scale.mul_(SCALE_MOMENTUM).add_((1 - SCALE_MOMENTUM) / latents.std().clamp(min=1e-3))

    def from_latent(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.autoencoder is None else self.autoencoder.decode(x / self.latent_scale)

    def forward(self, x, t, ids):
        return self.denoise(x, t, *self.encode_text(ids))

    @torch.no_grad()
    def draw(self, ids: torch.Tensor, *, guidance: float = 3.0, steps: int = 50, sampler: str = "ddim",
             seed: int | None = 0, eta: float = 0.0) -> torch.Tensor:
        """(B, L) caption ids -> (B, C, H, W) images in [-1, 1]; ``guidance`` w mixes
        eps_null + w (eps_caption - eps_null) (w = 1: the caption alone; 0: no caption)."""
        device = next(self.parameters()).device
        options = {"eta": eta} if sampler == "ddim" else {}
        step = make_sampler(sampler, self.schedule, steps, **options)
        ids = ids.to(device)
        text, mask = self.encode_text(ids)
        null, null_mask = self.encode_text(torch.full_like(ids[:, :1], self.null_id))
        null = torch.nn.functional.pad(null, (0, 0, 0, text.shape[1] - 1))
        null_mask = torch.nn.functional.pad(null_mask, (0, text.shape[1] - 1))
        both, both_mask = torch.cat([text, null]), torch.cat([mask, null_mask])

        def predict(x, t):
            if guidance == 1.0:
                return self.denoise(x, t, text, mask)
            if guidance == 0.0:
                return self.denoise(x, t, null, null_mask)
            cond, uncond = self.denoise(torch.cat([x, x]), t, both, both_mask).chunk(2)
            return guided(cond, uncond, guidance)

        generator = torch.Generator(device=device)
        generator.manual_seed(seed if seed is not None else torch.seed())
        c, side = self.config.latent_channels, self.config.latent_size
        latent = sample(predict, step, (ids.shape[0], c, side, side), generator, device)
        return self.from_latent(latent).clamp(-1, 1)
