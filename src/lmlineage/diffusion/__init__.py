"""Diffusion: noise schedules (``schedules``), the reverse steps that sample (``samplers``: DDPM,
DDIM), classifier-free guidance and dynamic thresholding. The U-Net and the autoencoder they drive
live in ``blocks/``; the families (glide, latent-diffusion) declare which schedule and sampler."""
