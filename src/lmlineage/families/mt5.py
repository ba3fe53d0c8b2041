"""mT5 (Xue et al. 2021, "mT5: A Massively Multilingual Pre-trained Text-to-Text Transformer").

Diff from T5 (section 2, "T5.1.1" recipe): the feed-forward is gated, GeGLU (Shazeer 2020:
``wo(gelu(wi_0 x) * wi_1 x)``, tanh-approximated GELU); the output layer is its own matrix, not
the embedding, so the decoder output is not rescaled; no dropout in pre-training; a 250k
SentencePiece vocabulary over 101 languages.
"""

from ..models.encoder_decoder import EncoderDecoderLM
from ..core.config import merge
from ..core.registry import Family, register
from .t5 import DEFAULTS, reference

REFERENCE = reference("mt5", "MT5ForConditionalGeneration",
                      (("fc_gate", "wi_0"), ("fc_in", "wi_1"), ("fc_out", "wo")), {"feed_forward_proj": "gated-gelu"})

MT5 = register(Family(
    name="mt5",
    year=2020,
    parent="t5",
    paper="Xue et al. 2021, mT5: A Massively Multilingual Pre-trained Text-to-Text Transformer",
    changes="GeGLU feed-forward, untied output layer (no rescaling), 250k multilingual vocabulary",
    defaults=merge(DEFAULTS,
                   {"mlp": {"kind": "glu", "activation": "gelu_tanh"},
                    "embedding": {"tie": False, "rescale_head": False}, "dropout": 0.0, "vocab_size": 250112}),
    presets={
        "tiny": dict(n_layer=2, attention=dict(n_head=4, head_dim=32), d_model=128, mlp=dict(d_ff=320),
                     max_positions=128),
        # Table 1 of the T5.1.1 checkpoints mT5 uses: d_kv = 64.
        "small": dict(n_layer=8, attention=dict(n_head=6, head_dim=64), d_model=512, mlp=dict(d_ff=1024)),  # 300M
        "base": dict(n_layer=12, attention=dict(n_head=12, head_dim=64), d_model=768, mlp=dict(d_ff=2048)),  # 580M
        "large": dict(n_layer=24, attention=dict(n_head=16, head_dim=64), d_model=1024, mlp=dict(d_ff=2816)),  # 1.2B
    },
    objective="span_corruption",
    default_tokenizer="unigram",
    architecture="encoder-decoder",
    reference=REFERENCE,
    build=EncoderDecoderLM,
))
