"""GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners").

Diff from GPT-1: layer norm moved to the input of each sub-block (pre-LN) plus a final
layer norm; residual projections scaled by 1/sqrt(N) at init; 1024-token context;
byte-level BPE with a 50257-token vocabulary.
"""

from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Ignore, Rename, Tie

REFERENCE = ReferenceSpec(
    model_type="gpt2",
    architecture="GPT2LMHeadModel",
    fields=(
        Field("vocab_size", "vocab_size"),
        Field("n_layer", "n_layer"),
        Field("attention.n_head", "n_head"),
        Field("d_model", "n_embd"),
        Field("mlp.d_ff", "n_inner"),
        Field("max_positions", "n_positions"),
        Field("norm.eps", "layer_norm_epsilon"),
        Field("mlp.activation", "activation_function",
              values={"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}),
        Field("embedding.tie", "tie_word_embeddings", default=True),
    ),
    rules=(
        Rename("backbone.embed_tokens.weight", "transformer.wte.weight"),
        Rename("backbone.embed_positions.weight", "transformer.wpe.weight"),
        Rename("backbone.layers.{i}.attn_norm.weight", "transformer.h.{i}.ln_1.weight"),
        Rename("backbone.layers.{i}.attn_norm.bias", "transformer.h.{i}.ln_1.bias"),
        # GPT-2 stores projections as Conv1D, (in, out): transposed relative to nn.Linear.
        Rename("backbone.layers.{i}.attn.qkv.weight", "transformer.h.{i}.attn.c_attn.weight", transpose=True),
        Rename("backbone.layers.{i}.attn.qkv.bias", "transformer.h.{i}.attn.c_attn.bias"),
        Rename("backbone.layers.{i}.attn.out.weight", "transformer.h.{i}.attn.c_proj.weight", transpose=True),
        Rename("backbone.layers.{i}.attn.out.bias", "transformer.h.{i}.attn.c_proj.bias"),
        Rename("backbone.layers.{i}.mlp_norm.weight", "transformer.h.{i}.ln_2.weight"),
        Rename("backbone.layers.{i}.mlp_norm.bias", "transformer.h.{i}.ln_2.bias"),
        Rename("backbone.layers.{i}.mlp.fc_in.weight", "transformer.h.{i}.mlp.c_fc.weight", transpose=True),
        Rename("backbone.layers.{i}.mlp.fc_in.bias", "transformer.h.{i}.mlp.c_fc.bias"),
        Rename("backbone.layers.{i}.mlp.fc_out.weight", "transformer.h.{i}.mlp.c_proj.weight", transpose=True),
        Rename("backbone.layers.{i}.mlp.fc_out.bias", "transformer.h.{i}.mlp.c_proj.bias"),
        Rename("backbone.norm.weight", "transformer.ln_f.weight"),
        Rename("backbone.norm.bias", "transformer.ln_f.bias"),
        Tie("lm_head.weight", "lm_head.weight"),
        # Older checkpoints carry the causal mask as buffers.
        Ignore("transformer.h.{i}.attn.bias"),
        Ignore("transformer.h.{i}.attn.masked_bias"),
    ),
    fixed={"scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False},
    export_extra={"bos_token_id": 0, "eos_token_id": 0, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0},
)

GPT2 = register(Family(
    name="gpt2",
    year=2019,
    parent="gpt",
    paper="Radford et al. 2019, Language Models are Unsupervised Multitask Learners",
    changes="pre-LN blocks + final LayerNorm, 1/sqrt(N) residual init, byte-level BPE, 1024 context",
    defaults=dict(norm=dict(kind="layernorm", placement="pre"), position=dict(kind="learned"),
                  mlp=dict(activation="gelu_tanh"), bias=True, embedding=dict(tie=True), vocab_size=50257),
    presets={
        # nanoGPT's CPU shakespeare_char shape.
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, max_positions=256),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768, max_positions=1024),  # 124M
        "medium": dict(n_layer=24, attention=dict(n_head=16), d_model=1024, max_positions=1024),
        "large": dict(n_layer=36, attention=dict(n_head=20), d_model=1280, max_positions=1024),
        "xl": dict(n_layer=48, attention=dict(n_head=25), d_model=1600, max_positions=1024),
    },
    objective="clm",
    reference=REFERENCE,
))
