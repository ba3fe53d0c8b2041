"""DALL-E (Ramesh et al. 2021, "Zero-Shot Text-to-Image Generation").

Diff from GPT-3, whose sparse Transformer it scales down to draw: images become words. A discrete
VAE (section 2.1) turns an image into a grid of codebook tokens, trained through a Gumbel-softmax
relaxation whose temperature is annealed to 1/16; a causal Transformer then models
[caption tokens; image tokens] as one sequence, the caption's cross-entropy weighted 1/8 and the
image's 7/8 (section 2.2). Caption positions are learned, image tokens get a learned row and column
vector. Samples are reranked by a CLIP's score of caption and image (section 2.5:
`generate --rerank CLIP_RUN`). The two stages run one after the other in one `train` run: the first
``dvae.steps`` steps (``--dvae-steps``) train the discrete VAE, the rest the Transformer on its
frozen codes. Dense causal attention stands in for the paper's row, column and convolutional masks.
"""

from ..core.dall_e import DallEConfig
from ..core.registry import Family, register
from ..models.dall_e import DallE

DALL_E = register(Family(
    name="dall-e",
    year=2021,
    parent="gpt3",
    paper="Ramesh et al. 2021, Zero-Shot Text-to-Image Generation",
    changes="draws: a discrete VAE (Gumbel-softmax, codebook) makes images token grids; one causal Transformer "
            "over [caption; image tokens], losses weighted 1/8 and 7/8; samples reranked by CLIP",
    defaults=dict(norm=dict(kind="layernorm", placement="pre", final=True), position=dict(kind="none"),
                  mlp=dict(activation="gelu"), bias=True, dropout=0.0),
    presets={
        # tiny: 16x16 grey digits as 4x4 tokens of a 128-code book; a caption of up to 8 tokens.
        "tiny": dict(d_model=64, n_layer=3, attention=dict(n_head=4), mlp=dict(d_ff=256), max_positions=8,
                     dvae=dict(channels=[16, 32, 32], groups=8, codebook=128, code_dim=32, steps=600),
                     image=dict(size=16)),
        "small": dict(d_model=256, n_layer=6, attention=dict(n_head=8), max_positions=32,
                      dvae=dict(channels=[64, 128, 128, 256], groups=32, codebook=1024, code_dim=128, steps=5000),
                      image=dict(size=64, channels=3)),
        # the paper's: 256x256 images as 32x32 tokens of 8192 codes, 256 caption tokens, 64 layers of width
        # 3968 with 62 heads (12 billion parameters)
        "base": dict(d_model=3968, n_layer=64, attention=dict(n_head=62), max_positions=256,
                     dvae=dict(channels=[256, 512, 1024, 2048], groups=32, codebook=8192, code_dim=512,
                               steps=150_000),
                     image=dict(size=256, channels=3)),
    },
    objective="dall_e",
    options={"dvae_steps": dict(type=int, metavar="N", help="dall-e: the first N steps of the run train the discrete "
                                "VAE, the rest the Transformer on its frozen codes (default: the preset's dvae.steps)")},
    build=DallE,
    config_class=DallEConfig,
))
