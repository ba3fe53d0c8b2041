"""Imagen (Saharia et al. 2022, "Photorealistic Text-to-Image Diffusion Models with Deep Language
Understanding").

Diff from GLIDE: the text encoder is a pre-trained T5 encoder kept frozen (section 2.1: a language
model trained on text alone; `train imagen --text-encoder RUN` reads ours or a reference directory,
without it a random T5 encoder stays frozen), its pooled states added to the step embedding and its
states read by cross-attention (section 2.4 and appendix); the predicted x_0 is dynamically
thresholded at sampling (section 2.3: clipped at the 99.5th percentile of |x_0| and divided by
it, here as diffusers does, at most 1.5 as DeepFloyd IF's released schedulers cap it); and a
cascade (section 2.5): a base model draws small images, a super-resolution model draws the full
size reading the base image upsampled and noised (noise conditioning augmentation). Both stages
train in one run here; the paper trains them apart.
"""

from ..core.diffusion import DiffusionConfig
from ..core.registry import Family, register
from ..models.text_to_image import CascadedTextToImage
from .t5 import DEFAULTS as T5

# T5's encoder shape, frozen (so no dropout), reading captions of a few words.
TEXT = dict(T5, dropout=0.0, max_positions=16)

IMAGEN = register(Family(
    name="imagen",
    year=2022,
    parent="glide",
    paper="Saharia et al. 2022, Photorealistic Text-to-Image Diffusion Models with Deep Language Understanding",
    changes="a frozen T5 text encoder, dynamic thresholding, a cascade: a base model and a super-resolution model "
            "conditioned on the upsampled base image",
    defaults=dict(TEXT, diffusion=dict(schedule="cosine", steps=1000, prediction="epsilon", caption_dropout=0.1,
                                       threshold=0.995, threshold_max=1.5)),
    presets={
        # tiny: 8x8 grey digits drawn, upsampled to 16x16; a 2-layer T5 encoder; minutes on a CPU.
        # v-prediction (Salimans & Ho 2022; Imagen's video and distilled models use it): at this scale
        # the epsilon loss barely weighs the noisy steps where the caption decides the digit, and the
        # caption is ignored after hundreds of steps (BENCHMARKS.md, "Drawing from text").
        "tiny": dict(d_model=32, n_layer=2, attention=dict(n_head=4, head_dim=8), mlp=dict(d_ff=64),
                     diffusion=dict(prediction="v_prediction"),
                     unet=dict(channels=[16, 32], attention=[False, True], layers_per_block=1, heads=4, groups=8,
                               class_dim=32),
                     cascade=dict(base_size=8, augmentation=100,
                                  unet=dict(channels=[16, 32], attention=[False, True], layers_per_block=1, heads=4,
                                            groups=8, class_dim=32)),
                     image=dict(size=16)),
        # the paper's 64x64 base over a T5-XXL encoder is out of reach; a 32 -> 64 cascade over T5-base.
        "small": dict(d_model=768, n_layer=12, attention=dict(n_head=12, head_dim=64), mlp=dict(d_ff=3072),
                      unet=dict(channels=[128, 256, 512], attention=[False, True, True], layers_per_block=2, heads=8,
                                groups=32, class_dim=768),
                      cascade=dict(base_size=32, augmentation=100,
                                   unet=dict(channels=[64, 128, 256], attention=[False, False, True],
                                             layers_per_block=2, heads=8, groups=32, class_dim=768)),
                      image=dict(size=64, channels=3)),
    },
    objective="cascade",
    architecture="diffusion",
    build=CascadedTextToImage,
    config_class=DiffusionConfig,
    options={"text_encoder": dict(metavar="PATH", help="imagen: a trained t5 run or a T5 reference directory whose "
                                  "encoder (frozen) and tokenizer read the captions (default: a random T5 encoder)")},
))
