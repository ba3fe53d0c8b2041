"""LLaMA (Touvron et al. 2023, "LLaMA: Open and Efficient Foundation Language Models").

Diff from GPT-2 (via GPT-3 and PaLM): RMSNorm before each sub-block (section 2.2,
"pre-normalization"), SwiGLU feed-forward with hidden size 2/3 * 4d, rotary positions
instead of learned ones, no biases, untied output embedding; LLaMA-2 adds grouped-query
attention (fewer K/V heads).
"""

from ..core.registry import Family, register
from ..interop.gguf import GGUFSpec, Meta
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Rename, RopePermute

# llama.cpp's files: GGUF metadata keys -> config.json keys, GGUF tensors -> reference tensors.
GGUF = GGUFSpec(
    architecture="llama",
    config=(
        Meta("num_hidden_layers", "{arch}.block_count"),
        Meta("hidden_size", "{arch}.embedding_length"),
        Meta("intermediate_size", "{arch}.feed_forward_length"),
        Meta("num_attention_heads", "{arch}.attention.head_count"),
        Meta("num_key_value_heads", "{arch}.attention.head_count_kv", default=None),  # none: as many as queries
        Meta("attention.head_dim", "{arch}.attention.key_length", default=None),  # none: width / heads
        Meta("max_position_embeddings", "{arch}.context_length"),
        Meta("rms_norm_eps", "{arch}.attention.layer_norm_rms_epsilon"),
        Meta("rope_parameters.rope_theta", "{arch}.rope.freq_base", default=10000.0),  # llama.cpp's default
        Meta("vocab_size", "{arch}.vocab_size", default=None),  # none: the embedding's rows
    ),
    tensors=(
        Rename("model.embed_tokens.weight", "token_embd.weight"),
        Rename("model.layers.{i}.input_layernorm.weight", "blk.{i}.attn_norm.weight"),
        RopePermute("model.layers.{i}.self_attn.q_proj.weight", "blk.{i}.attn_q.weight", heads="n_head"),
        RopePermute("model.layers.{i}.self_attn.k_proj.weight", "blk.{i}.attn_k.weight", heads="kv_heads"),
        Rename("model.layers.{i}.self_attn.v_proj.weight", "blk.{i}.attn_v.weight"),
        Rename("model.layers.{i}.self_attn.o_proj.weight", "blk.{i}.attn_output.weight"),
        Rename("model.layers.{i}.post_attention_layernorm.weight", "blk.{i}.ffn_norm.weight"),
        Rename("model.layers.{i}.mlp.gate_proj.weight", "blk.{i}.ffn_gate.weight"),
        Rename("model.layers.{i}.mlp.up_proj.weight", "blk.{i}.ffn_up.weight"),
        Rename("model.layers.{i}.mlp.down_proj.weight", "blk.{i}.ffn_down.weight"),
        Rename("model.norm.weight", "output_norm.weight"),
        Rename("lm_head.weight", "output.weight"),  # absent when the output embedding is tied
    ),
    fixed={"hidden_act": "silu"},
    refuse=(
        ("{arch}.expert_count", (None, 0), "mixture-of-experts LLaMA files (Mixtral) are not supported"),
        ("{arch}.rope.scaling.type", (None, "none"), "rotary scaling (linear, YaRN) is not supported"),
    ),
)

REFERENCE = ReferenceSpec(
    model_type="llama",
    architecture="LlamaForCausalLM",
    fields=(
        Field("vocab_size", "vocab_size"),
        Field("n_layer", "num_hidden_layers"),
        Field("attention.n_head", "num_attention_heads"),
        Field("attention.n_kv_head", "num_key_value_heads"),
        Field("d_model", "hidden_size"),
        Field("mlp.d_ff", "intermediate_size"),
        Field("attention.head_dim", "head_dim"),
        Field("max_positions", "max_position_embeddings"),
        Field("norm.eps", "rms_norm_eps"),
        Field("position.rope_theta", "rope_parameters.rope_theta", default=10000.0),
        Field("embedding.tie", "tie_word_embeddings", default=False),
        Field("mlp.activation", "hidden_act", values={"silu": "silu", "gelu": "gelu"}),
    ),
    rules=(
        Rename("backbone.embed_tokens.weight", "model.embed_tokens.weight"),
        Rename("backbone.layers.{i}.attn_norm.weight", "model.layers.{i}.input_layernorm.weight"),
        Fuse("backbone.layers.{i}.attn.qkv.weight", ("model.layers.{i}.self_attn.q_proj.weight",
             "model.layers.{i}.self_attn.k_proj.weight", "model.layers.{i}.self_attn.v_proj.weight"), split="qkv"),
        Rename("backbone.layers.{i}.attn.out.weight", "model.layers.{i}.self_attn.o_proj.weight"),
        Rename("backbone.layers.{i}.mlp_norm.weight", "model.layers.{i}.post_attention_layernorm.weight"),
        Rename("backbone.layers.{i}.mlp.fc_gate.weight", "model.layers.{i}.mlp.gate_proj.weight"),
        Rename("backbone.layers.{i}.mlp.fc_in.weight", "model.layers.{i}.mlp.up_proj.weight"),
        Rename("backbone.layers.{i}.mlp.fc_out.weight", "model.layers.{i}.mlp.down_proj.weight"),
        Rename("backbone.norm.weight", "model.norm.weight"),
        Rename("lm_head.weight", "lm_head.weight"),
    ),
    fixed={"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1},
    export_extra={"bos_token_id": 0, "eos_token_id": 0, "rope_parameters": {"rope_type": "default"}},
    gguf=GGUF,
)

LLAMA = register(Family(
    name="llama",
    year=2023,
    parent="gpt3",
    paper="Touvron et al. 2023, LLaMA: Open and Efficient Foundation Language Models",
    changes="pre-RMSNorm, SwiGLU, rotary positions, no biases, untied head; grouped-query attention (LLaMA-2)",
    defaults=dict(norm=dict(kind="rmsnorm", eps=1e-6, placement="pre"), position=dict(kind="rotary"),
                  mlp=dict(activation="silu", kind="glu"), bias=False, embedding=dict(tie=False), vocab_size=32000),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, mlp=dict(d_ff=352), max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6, n_kv_head=2), d_model=384, mlp=dict(d_ff=1024),
                      max_positions=256),
        # TinyLlama-1.1B's shape: the decoding benchmark's model.
        "1b": dict(n_layer=22, attention=dict(n_head=32, n_kv_head=4), d_model=2048, mlp=dict(d_ff=5632),
                   max_positions=2048),
        "7b": dict(n_layer=32, attention=dict(n_head=32), d_model=4096, mlp=dict(d_ff=11008), max_positions=4096),
    },
    objective="clm",
    reference=REFERENCE,
))
