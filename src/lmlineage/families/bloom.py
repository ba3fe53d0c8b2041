"""BLOOM (BigScience 2022, "BLOOM: A 176B-Parameter Open-Access Multilingual Language Model").

Diff from GPT-2 (via Megatron-LM): ALiBi attention biases instead of position embeddings
(section 3.2.3), and a LayerNorm right after the word embeddings for training stability.
"""

from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import HeadInterleaved, Rename, Tie

P = "transformer.h.{i}."
REFERENCE = ReferenceSpec(
    model_type="bloom",
    architecture="BloomForCausalLM",
    fields=(
        Field("vocab_size", "vocab_size"),
        Field("n_layer", "n_layer"),
        Field("attention.n_head", "n_head"),
        Field("d_model", "hidden_size"),
        Field("norm.eps", "layer_norm_epsilon"),
        Field("embedding.tie", "tie_word_embeddings", default=True),
    ),
    rules=(
        Rename("backbone.embed_tokens.weight", "transformer.word_embeddings.weight"),
        Rename("backbone.embed_norm.weight", "transformer.word_embeddings_layernorm.weight"),
        Rename("backbone.embed_norm.bias", "transformer.word_embeddings_layernorm.bias"),
        *(Rename(f"backbone.layers.{{i}}.{ours}.{p}", f"{P}{theirs}.{p}")
          for ours, theirs in (("attn_norm", "input_layernorm"), ("mlp_norm", "post_attention_layernorm"),
                               ("attn.out", "self_attention.dense"), ("mlp.fc_in", "mlp.dense_h_to_4h"),
                               ("mlp.fc_out", "mlp.dense_4h_to_h"))
          for p in ("weight", "bias")),
        HeadInterleaved("backbone.layers.{i}.attn.qkv.weight", P + "self_attention.query_key_value.weight"),
        HeadInterleaved("backbone.layers.{i}.attn.qkv.bias", P + "self_attention.query_key_value.bias"),
        Rename("backbone.norm.weight", "transformer.ln_f.weight"),
        Rename("backbone.norm.bias", "transformer.ln_f.bias"),
        Tie("lm_head.weight", "lm_head.weight"),
    ),
    fixed={"apply_residual_connection_post_layernorm": False, "pretraining_tp": 1, "slow_but_exact": False},
    export_extra={"bos_token_id": 0, "eos_token_id": 0},
)

register(Family(
    name="bloom",
    year=2022,
    parent="gpt2",
    paper="BigScience 2022, BLOOM: A 176B-Parameter Open-Access Multilingual Language Model",
    changes="ALiBi attention biases instead of position embeddings, LayerNorm after the embeddings",
    defaults=dict(norm=dict(kind="layernorm", after_embeddings=True, placement="pre"), position=dict(kind="alibi"),
                  mlp=dict(activation="gelu_tanh"), bias=True, embedding=dict(tie=True), vocab_size=250880,
                  max_positions=2048),
    presets={
        # as the other decoders' tiny presets
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384),
        "560m": dict(n_layer=24, attention=dict(n_head=16), d_model=1024),
    },
    objective="clm",
    reference=REFERENCE,
))
