"""Text-to-image diffusion models (GLIDE, Nichol et al. 2022; latent diffusion, Rombach et al.
2022): a Transformer text encoder over the caption (the shared encoder stack), a U-Net that
predicts the noise of a noisy image from its step and the caption's states (cross-attention), and
for latent diffusion a KL autoencoder whose latent space the U-Net works in. Sampling is
``diffusion.samplers``' loop; guidance mixes the caption's prediction with the empty caption's."""

from __future__ import annotations

from functools import partial

import torch

from ..blocks.autoencoder import AutoencoderKL
from ..blocks.init import init_weights
from ..blocks.stack import Stack
from ..blocks.unet import UNet
from ..core.diffusion import DiffusionConfig
from ..diffusion.samplers import guided, make_sampler, sample
from ..diffusion.schedules import NoiseSchedule
from .caption_drawer import CaptionDrawer

SCALE_MOMENTUM = 0.99  # of the running latent standard deviation latent diffusion rescales by


class TextToImage(CaptionDrawer):
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

    def captions_and_null(self, ids: torch.Tensor):
        """The caption's states and mask, and the empty caption's padded to their length."""
        text, mask = self.encode_text(ids)
        null, null_mask = self.encode_text(torch.full_like(ids[:, :1], self.null_id))
        null = torch.nn.functional.pad(null, (0, 0, 0, text.shape[1] - 1))
        null_mask = torch.nn.functional.pad(null_mask, (0, text.shape[1] - 1))
        return text, mask, null, null_mask

    def sampler(self, name: str, steps: int, eta: float = 0.0):
        """The reverse step, with the family's thresholding of the predicted x_0."""
        d = self.config.diffusion
        options = {"eta": eta} if name == "ddim" else {}
        if self.autoencoder is not None:  # latents scaled to unit variance leave [-1, 1]: not clipped there
            options["clip"] = None
        if d.threshold is not None:
            options.update(threshold=d.threshold, threshold_max=d.threshold_max)
        return make_sampler(name, self.schedule, steps, **options)

    @staticmethod
    def guided_sample(denoise, captions, guidance: float, step, shape, generator, device) -> torch.Tensor:
        """The reverse process with ``denoise(x, t, text, mask)`` mixed by classifier-free guidance."""
        text, mask, null, null_mask = captions
        both, both_mask = torch.cat([text, null]), torch.cat([mask, null_mask])

        def predict(x, t):
            if guidance == 1.0:
                return denoise(x, t, text, mask)
            if guidance == 0.0:
                return denoise(x, t, null, null_mask)
            cond, uncond = denoise(torch.cat([x, x]), t, both, both_mask).chunk(2)
            return guided(cond, uncond, guidance)

        return sample(predict, step, shape, generator, device)

    @torch.no_grad()
    def draw(self, ids: torch.Tensor, *, guidance: float = 3.0, steps: int = 50, sampler: str = "ddim",
             seed: int | None = 0, eta: float = 0.0) -> torch.Tensor:
        """(B, L) caption ids -> (B, C, H, W) images in [-1, 1]; ``guidance`` w mixes
        eps_null + w (eps_caption - eps_null) (w = 1: the caption alone; 0: no caption)."""
        return self.draw_stages(ids, guidance=guidance, steps=steps, sampler=sampler, seed=seed, eta=eta)[-1]

    @torch.no_grad()
    def draw_stages(self, ids: torch.Tensor, *, guidance: float = 3.0, steps: int = 50, sampler: str = "ddim",
                    seed: int | None = 0, eta: float = 0.0) -> list[torch.Tensor]:
        """What each stage drew, the last the image (one stage here; a cascade's base, then its
        upsampling)."""
        device = next(self.parameters()).device
        step = self.sampler(sampler, steps, eta)
        ids = ids.to(device)
        generator = torch.Generator(device=device)
        generator.manual_seed(seed if seed is not None else torch.seed())
        c, side = self.config.latent_channels, self.config.latent_size
        latent = self.guided_sample(self.denoise, self.captions_and_null(ids), guidance, step,
                                    (ids.shape[0], c, side, side), generator, device)
        return [self.from_latent(latent).clamp(-1, 1)]


def upsample(images: torch.Tensor, side: int) -> torch.Tensor:
    """Bicubic resizing to ``side`` pixels a side (a cascade's conditioning, and the plain baseline)."""
    return torch.nn.functional.interpolate(images, size=(side, side), mode="bicubic", align_corners=False)


def downsample(images: torch.Tensor, side: int) -> torch.Tensor:
    """Area averaging to ``side`` pixels a side: the base stage's view of a training image."""
    return torch.nn.functional.interpolate(images, size=(side, side), mode="area")


class CascadedTextToImage(TextToImage):
    """Imagen (Saharia et al. 2022): a frozen text encoder (section 2.1), a base U-Net at
    ``cascade.base_size`` and a super-resolution U-Net reading the noised, upsampled base image
    beside its own noisy input (section 2.5); both read the caption (cross-attention and the
    pooled caption added to the step embedding, section 2.4 and appendix)."""

    def __init__(self, cfg: DiffusionConfig):
        super().__init__(cfg)
        self.text.requires_grad_(False)  # frozen: the text encoder is pre-trained elsewhere (or random)
        c = cfg.image.channels
        self.super_resolution = UNet(cfg.cascade.unet, 2 * c, c, cfg.d_model)

    def train(self, mode: bool = True):
        super().train(mode)
        self.text.eval()  # frozen, so no dropout either
        return self

    def low_resolution(self, base: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The super-resolution stage's condition: the base image upsampled and noised to the
        augmentation step."""
        level = torch.full((len(base),), self.config.cascade.augmentation, device=base.device)
        return self.schedule.add_noise(upsample(base, self.config.image.size), noise, level)

    def denoise_super_resolution(self, x, t, text, mask, low):
        pooled = None
        if self.super_resolution.class_embedding is not None:
            pooled = (text * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        if low.shape[0] != x.shape[0]:  # guidance: the caption's half and the empty caption's
            low = torch.cat([low, low])
        return self.super_resolution(torch.cat([x, low], dim=1), t, text, mask, pooled=pooled)

    @torch.no_grad()
    def draw_stages(self, ids: torch.Tensor, *, guidance: float = 3.0, steps: int = 50, sampler: str = "ddim",
                    seed: int | None = 0, eta: float = 0.0) -> list[torch.Tensor]:
        base = super().draw_stages(ids, guidance=guidance, steps=steps, sampler=sampler, seed=seed, eta=eta)[0]
        device = base.device
        generator = torch.Generator(device=device)
        generator.manual_seed((seed if seed is not None else torch.seed()) + 1)
        side = self.config.image.size
        low = self.low_resolution(base, torch.randn(upsample(base, side).shape, generator=generator, device=device))
        drawn = self.guided_sample(partial(self.denoise_super_resolution, low=low),
                                   self.captions_and_null(ids.to(device)), guidance, self.sampler(sampler, steps, eta),
                                   (ids.shape[0], base.shape[1], side, side), generator, device)
        return [base, drawn.clamp(-1, 1)]
