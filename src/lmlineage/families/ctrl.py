"""CTRL (Keskar et al. 2019, "CTRL: A Conditional Transformer Language Model for Controllable
Generation").

Diff from GPT-2: each training sequence begins with a control code naming where its text comes
from (section 3; the ``clm+control`` objective prefixes every document with its source's name);
fixed sinusoidal positions, laid out as all sines then all cosines, added to token embeddings
scaled by sqrt(d) as in the Transformer (Vaswani et al. 2017, section 3.4); a ReLU feed-forward
layer; LayerNorm epsilon 1e-6; a bias on the tied output layer. The paper's model: 48 layers,
d = 1280, inner 8192, 16 heads, 256-token context (section 3.1), 1.63B parameters.
"""

from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Rename, Tie

P = "transformer.h.{i}."
QKV = tuple(P + f"multi_head_attention.W{x}" for x in "qkv")
REFERENCE = ReferenceSpec(
    model_type="ctrl",
    architecture="CTRLLMHeadModel",
    fields=(
        Field("vocab_size", "vocab_size"),
        Field("n_layer", "n_layer"),
        Field("attention.n_head", "n_head"),
        Field("d_model", "n_embd"),
        Field("mlp.d_ff", "dff"),
        Field("max_positions", "n_positions"),
        Field("embedding.tie", "tie_word_embeddings", default=True),
    ),
    rules=(
        Rename("backbone.embed_tokens.weight", "transformer.w.weight"),
        Fuse("backbone.layers.{i}.attn.qkv.weight", tuple(k + ".weight" for k in QKV)),
        Fuse("backbone.layers.{i}.attn.qkv.bias", tuple(k + ".bias" for k in QKV)),
        *(Rename(f"backbone.layers.{{i}}.{ours}.{p}", f"{P}{theirs}.{p}")
          for ours, theirs in (("attn.out", "multi_head_attention.dense"), ("attn_norm", "layernorm1"),
                               ("mlp_norm", "layernorm2"), ("mlp.fc_in", "ffn.0"), ("mlp.fc_out", "ffn.2"))
          for p in ("weight", "bias")),
        Rename("backbone.norm.weight", "transformer.layernorm.weight"),
        Rename("backbone.norm.bias", "transformer.layernorm.bias"),
        Tie("lm_head.weight", "lm_head.weight"),
        Rename("lm_head.bias", "lm_head.bias"),
    ),
    # The reference's block norms hard-code 1e-6; its final norm reads this key.
    fixed={"layer_norm_epsilon": 1e-6},
    export_extra={"resid_pdrop": 0.0, "embd_pdrop": 0.0},
)

register(Family(
    name="ctrl",
    year=2019,
    parent="gpt2",
    paper="Keskar et al. 2019, CTRL: A Conditional Transformer Language Model for Controllable Generation",
    changes="control code before every sequence; sinusoidal positions, sqrt(d)-scaled embeddings, ReLU, biased head",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-6, placement="pre"), position=dict(kind="sinusoidal_halves"),
                  embedding=dict(scale=True, tie=True, head_bias=True), mlp=dict(activation="relu"), bias=True,
                  vocab_size=246534),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, max_positions=256),
        "1.6b": dict(n_layer=48, attention=dict(n_head=16), d_model=1280, mlp=dict(d_ff=8192),
                     max_positions=256),  # section 3.1
    },
    objective="clm+control",
    reference=REFERENCE,
))
