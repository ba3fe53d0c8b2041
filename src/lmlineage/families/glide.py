"""GLIDE (Nichol et al. 2022, "GLIDE: Towards Photorealistic Image Generation and Editing with
Text-Guided Diffusion Models").

Diff from the Transformer it conditions on: the model draws. A Transformer encodes the caption;
a U-Net with attention (Ho et al. 2020's, as improved by Nichol & Dhariwal 2021) denoises pixels
and reads the caption's states in its attention layers (section 2.3; here as cross-attention) and
the caption pooled in place of a class embedding, added to the step's (``unet.class_dim``);
trained as DDPM with the cosine schedule (Nichol & Dhariwal 2021, eq. 17), sampled by DDPM or
DDIM. Classifier-free guidance (section 2.4): 20% of captions are replaced by the empty one in
training; at sampling eps~ = eps(empty) + w (eps(caption) - eps(empty)).

The tiny preset predicts v = sqrt(abar) eps - sqrt(1 - abar) x_0 (Salimans & Ho 2022) in place of
eps: eps's loss weighs an error in x_0 by the signal-to-noise ratio, near 0 at the noisy steps
where only the caption tells the digit, so after 300 steps the epsilon model's loss was the same
with the right caption, another or none (BENCHMARKS.md, "Drawing from text") and guidance had
nothing to amplify; v's weight is 1 + SNR, and the caption takes hold in hundreds of steps.
"""

from ..core.diffusion import DiffusionConfig
from ..core.registry import Family, register
from ..models.text_to_image import TextToImage

TEXT = dict(norm=dict(kind="layernorm", placement="pre", final=True), position=dict(kind="learned"),
            mlp=dict(activation="gelu"), bias=True, dropout=0.0, max_positions=32)

GLIDE = register(Family(
    name="glide",
    year=2021,
    parent="transformer",
    paper="Nichol et al. 2022, GLIDE: Towards Photorealistic Image Generation and Editing with Text-Guided "
          "Diffusion Models",
    changes="draws: a U-Net denoises pixels (cosine schedule, DDPM/DDIM) reading a Transformer's caption "
            "states; classifier-free guidance",
    defaults=dict(TEXT, diffusion=dict(schedule="cosine", steps=1000, prediction="epsilon", caption_dropout=0.2)),
    presets={
        # tiny: 16x16 grey digits (the 8x8 set enlarged), two U-Net levels; minutes on a CPU.
        "tiny": dict(d_model=32, n_layer=2, attention=dict(n_head=4), mlp=dict(d_ff=64),
                     diffusion=dict(prediction="v_prediction"),  # why: the docstring
                     unet=dict(channels=[16, 32], attention=[False, True], layers_per_block=1, heads=4, groups=8,
                               class_dim=32),
                     image=dict(size=16)),
        "small": dict(d_model=128, n_layer=4, attention=dict(n_head=4),
                      unet=dict(channels=[64, 128, 256], attention=[False, True, True], layers_per_block=2, heads=4,
                                groups=32, class_dim=128), image=dict(size=32)),
        # the paper's 64x64 base model: 512-wide text Transformer of 16 layers; U-Net 192 wide (x1, 2, 3, 4)
        "base": dict(d_model=512, n_layer=16, attention=dict(n_head=8), max_positions=128,
                     unet=dict(channels=[192, 384, 576, 768], attention=[False, True, True, True], layers_per_block=3,
                               heads=3, groups=32, class_dim=512), image=dict(size=64, channels=3)),
    },
    objective="diffusion",
    architecture="diffusion",
    build=TextToImage,
    config_class=DiffusionConfig,
))
