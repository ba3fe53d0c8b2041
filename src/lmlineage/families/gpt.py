"""GPT-1 (Radford et al. 2018, "Improving Language Understanding by Generative Pre-Training").

Diff from the Transformer (Vaswani et al. 2017): decoder only, no cross-attention; learned
position embeddings instead of sinusoids; GELU; 12 post-LN blocks of width 768 over a 512
token context; output embedding tied to the input (section 4.1, "Model specifications").
"""

from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Ignore, Rename, Tie

P = "transformer.h.{i}."
REFERENCE = ReferenceSpec(
    model_type="openai-gpt",
    architecture="OpenAIGPTLMHeadModel",
    fields=(
        Field("vocab_size", "vocab_size"),
        Field("n_layer", "n_layer"),
        Field("attention.n_head", "n_head"),
        Field("d_model", "n_embd"),
        Field("max_positions", "n_positions"),
        Field("norm.eps", "layer_norm_epsilon"),
        Field("mlp.activation", "afn",
              values={"gelu": "gelu", "gelu_new": "gelu_tanh", "relu": "relu", "silu": "silu"}),
    ),
    rules=(
        Rename("backbone.embed_tokens.weight", "transformer.tokens_embed.weight"),
        Rename("backbone.embed_positions.weight", "transformer.positions_embed.weight"),
        *(Rename(f"backbone.layers.{{i}}.{ours}.{p}", f"{P}{theirs}.{p}", transpose=p == "weight" and "." in ours)
          for ours, theirs in (("attn.qkv", "attn.c_attn"), ("attn.out", "attn.c_proj"), ("attn_norm", "ln_1"),
                               ("mlp.fc_in", "mlp.c_fc"), ("mlp.fc_out", "mlp.c_proj"), ("mlp_norm", "ln_2"))
          for p in ("weight", "bias")),
        Tie("lm_head.weight", "lm_head.weight"),
        Ignore(P + "attn.bias"),  # the causal-mask buffer of older checkpoints
    ),
    export_extra={"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0},
)

register(Family(
    name="gpt",
    year=2018,
    parent="transformer",
    paper="Radford et al. 2018, Improving Language Understanding by Generative Pre-Training",
    changes="decoder-only Transformer pre-trained as a causal LM; learned positions, GELU, post-LN, tied head",
    defaults=dict(norm=dict(kind="layernorm", placement="post", final=False), position=dict(kind="learned"),
                  mlp=dict(activation="gelu"), bias=True, embedding=dict(tie=True), vocab_size=40478),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, max_positions=256),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768, max_positions=512),  # the paper's model
    },
    objective="clm",
    reference=REFERENCE,
))
