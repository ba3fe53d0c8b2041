"""GPT-NeoX (Black et al. 2022, "GPT-NeoX-20B: An Open-Source Autoregressive Language Model").

Diff from GPT-2 (via GPT-J): rotary positions on a quarter of each head's channels, and
attention and MLP computed in parallel from the same input (section 2.1), with untied
input and output embeddings.
"""

from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import HeadInterleaved, Rename

P = "gpt_neox.layers.{i}."
REFERENCE = ReferenceSpec(
    model_type="gpt_neox",
    architecture="GPTNeoXForCausalLM",
    fields=(
        Field("vocab_size", "vocab_size"),
        Field("n_layer", "num_hidden_layers"),
        Field("attention.n_head", "num_attention_heads"),
        Field("d_model", "hidden_size"),
        Field("mlp.d_ff", "intermediate_size"),
        Field("max_positions", "max_position_embeddings"),
        Field("norm.eps", "layer_norm_eps"),
        Field("position.rope_theta", "rope_parameters.rope_theta", default=10000.0),
        Field("position.rotary_fraction", "rope_parameters.partial_rotary_factor", default=0.25),
        Field("embedding.tie", "tie_word_embeddings", default=False),
        Field("mlp.activation", "hidden_act", values={"gelu": "gelu", "gelu_new": "gelu_tanh", "relu": "relu"}),
    ),
    rules=(
        Rename("backbone.embed_tokens.weight", "gpt_neox.embed_in.weight"),
        *(Rename(f"backbone.layers.{{i}}.{ours}.{p}", f"{P}{theirs}.{p}")
          for ours, theirs in (("attn_norm", "input_layernorm"), ("mlp_norm", "post_attention_layernorm"),
                               ("attn.out", "attention.dense"), ("mlp.fc_in", "mlp.dense_h_to_4h"),
                               ("mlp.fc_out", "mlp.dense_4h_to_h"))
          for p in ("weight", "bias")),
        HeadInterleaved("backbone.layers.{i}.attn.qkv.weight", P + "attention.query_key_value.weight"),
        HeadInterleaved("backbone.layers.{i}.attn.qkv.bias", P + "attention.query_key_value.bias"),
        Rename("backbone.norm.weight", "gpt_neox.final_layer_norm.weight"),
        Rename("backbone.norm.bias", "gpt_neox.final_layer_norm.bias"),
        Rename("lm_head.weight", "embed_out.weight"),
    ),
    fixed={"use_parallel_residual": True, "attention_bias": True},
    export_extra={"bos_token_id": 0, "eos_token_id": 0, "rope_parameters": {"rope_type": "default"}},
)

register(Family(
    name="gpt-neox",
    year=2022,
    parent="gpt2",
    paper="Black et al. 2022, GPT-NeoX-20B: An Open-Source Autoregressive Language Model",
    changes="partial rotary positions (25% of channels), parallel attention + MLP residual, untied head",
    defaults=dict(norm=dict(kind="layernorm", placement="parallel"),
                  position=dict(kind="rotary", rotary_fraction=0.25), mlp=dict(activation="gelu"), bias=True,
                  embedding=dict(tie=False), vocab_size=50432),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, max_positions=256),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768, max_positions=2048),  # Pythia-160M's shape
        "20b": dict(n_layer=44, attention=dict(n_head=64), d_model=6144, max_positions=2048),
    },
    objective="clm",
    reference=REFERENCE,
))
