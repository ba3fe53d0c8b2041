"""GLM-4 (Team GLM 2024, "ChatGLM: A Family of Large Language Models from GLM-130B to GLM-4
All Tools") — the architecture `transformers` calls model type ``glm``.

Diff from LLaMA: biases on the query/key/value projection only; rotary positions on half of
each head's channels, with pairs interleaved; a fused gate/up projection in the SwiGLU MLP.
(The 2021 GLM with blank infilling and 2-D positions is the separate family ``glm``.)
"""

from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Rename, Split
from .llama import REFERENCE as LLAMA

LLAMA_FIELDS = LLAMA.fields
P = "model.layers.{i}."
QKV = tuple(P + f"self_attn.{x}_proj" for x in "qkv")
REFERENCE = ReferenceSpec(
    model_type="glm",
    architecture="GlmForCausalLM",
    # LLaMA's config fields, plus the share of channels that rotate.
    fields=(*LLAMA_FIELDS, Field("position.rotary_fraction", "rope_parameters.partial_rotary_factor", default=0.5)),
    rules=(
        Rename("backbone.embed_tokens.weight", "model.embed_tokens.weight"),
        Rename("backbone.layers.{i}.attn_norm.weight", P + "input_layernorm.weight"),
        Fuse("backbone.layers.{i}.attn.qkv.weight", tuple(k + ".weight" for k in QKV), split="qkv"),
        Fuse("backbone.layers.{i}.attn.qkv.bias", tuple(k + ".bias" for k in QKV), split="qkv"),
        Rename("backbone.layers.{i}.attn.out.weight", P + "self_attn.o_proj.weight"),
        Rename("backbone.layers.{i}.mlp_norm.weight", P + "post_attention_layernorm.weight"),
        Split(("backbone.layers.{i}.mlp.fc_gate.weight", "backbone.layers.{i}.mlp.fc_in.weight"),
              P + "mlp.gate_up_proj.weight"),
        Rename("backbone.layers.{i}.mlp.fc_out.weight", P + "mlp.down_proj.weight"),
        Rename("backbone.norm.weight", "model.norm.weight"),
        Rename("lm_head.weight", "lm_head.weight"),
    ),
    fixed={"attention_bias": True},
    export_extra={"bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0, "rope_parameters": {"rope_type": "default"}},
)

register(Family(
    name="glm4",
    year=2024,
    parent="llama",
    paper="Team GLM 2024, ChatGLM: A Family of Large Language Models from GLM-130B to GLM-4 All Tools",
    changes="q/k/v biases only, interleaved rotary on half the channels, fused gate/up projection",
    defaults=dict(norm=dict(kind="rmsnorm", eps=1.5625e-07, placement="pre"),
                  position=dict(kind="rotary", rotary_fraction=0.5, rope_layout="interleaved"),
                  mlp=dict(activation="silu", kind="glu"), bias=False, attention=dict(qkv_bias=True),
                  embedding=dict(tie=False), vocab_size=151552),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4, n_kv_head=2), d_model=128, mlp=dict(d_ff=352),
                     max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6, n_kv_head=2), d_model=384, mlp=dict(d_ff=1024),
                      max_positions=256),
        "9b": dict(n_layer=40, attention=dict(n_head=32, n_kv_head=2), d_model=4096, mlp=dict(d_ff=13696),
                   max_positions=131072),
    },
    objective="clm",
    reference=REFERENCE,
))
