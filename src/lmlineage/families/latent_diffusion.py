"""Latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion
Models").

Diff from GLIDE: the U-Net denoises the latent space of a KL-regularized autoencoder (section 3.1:
reconstruction plus a small KL to N(0, I)), a factor 2^(levels-1) smaller a side, with latents
rescaled to unit variance (section 4.3.2); the caption reaches the U-Net by cross-attention in
Transformer blocks (section 3.3, eq. 3); the schedule is linear in sqrt(beta) ("scaled_linear",
0.00085 to 0.012, the released models'). The autoencoder trains in the same run, its latents fed
to the U-Net with the gradient stopped. The tiny preset predicts v, as GLIDE's does (see glide.py).
"""

from ..core.diffusion import DiffusionConfig
from ..core.registry import Family, register
from ..models.text_to_image import TextToImage
from .glide import TEXT

LATENT_DIFFUSION = register(Family(
    name="latent-diffusion",
    year=2022,
    parent="glide",
    paper="Rombach et al. 2022, High-Resolution Image Synthesis with Latent Diffusion Models",
    changes="diffusion in a KL autoencoder's latent space; cross-attention to the caption in Transformer blocks",
    defaults=dict(TEXT, diffusion=dict(schedule="scaled_linear", steps=1000, beta_start=0.00085, beta_end=0.012,
                                       prediction="epsilon", caption_dropout=0.1)),
    presets={
        # tiny: 16x16 digits -> 8x8x1 latents (4 channels, as many numbers as pixels, were as hard to
        # model as the pixels and drew squiggles: BENCHMARKS.md); minutes on a CPU.
        "tiny": dict(d_model=32, n_layer=2, attention=dict(n_head=4), mlp=dict(d_ff=64),
                     diffusion=dict(prediction="v_prediction"),  # why: glide.py
                     unet=dict(channels=[32, 64], attention=[True, True], layers_per_block=1, heads=4, groups=8),
                     autoencoder=dict(channels=[16, 32], layers_per_block=1, latent_channels=1, groups=8,
                                      kl_weight=1e-4),
                     image=dict(size=16)),
        "small": dict(d_model=128, n_layer=4, attention=dict(n_head=4),
                      unet=dict(channels=[64, 128], attention=[True, True], layers_per_block=2, heads=4, groups=32),
                      autoencoder=dict(channels=[64, 128], layers_per_block=2, latent_channels=4, groups=32),
                      image=dict(size=32)),
        # LDM-4 text-to-image (the paper's 256x256, f=4 latents, a 32-layer BERT-like text encoder)
        "base": dict(d_model=640, n_layer=32, attention=dict(n_head=8), max_positions=77,
                     unet=dict(channels=[320, 640, 1280, 1280], attention=[True, True, True, False],
                               layers_per_block=2, heads=8, groups=32),
                     autoencoder=dict(channels=[128, 256, 512], layers_per_block=2, latent_channels=3, groups=32),
                     image=dict(size=256, channels=3)),
    },
    objective="diffusion",
    architecture="diffusion",
    build=TextToImage,
    config_class=DiffusionConfig,
))
