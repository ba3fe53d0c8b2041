"""PaLM (Chowdhery et al. 2022, "PaLM: Scaling Language Modeling with Pathways").

Diff from GPT-3, all from section 2 ("Model Architecture"): SwiGLU MLP; attention and MLP in
parallel from one LayerNorm; multi-query attention (one key/value head); rotary positions;
shared input/output embeddings; no biases in dense kernels or layer norms.
No reference implementation exists: tests tie it to a parity-tested GPT-NeoX-style block.
"""

from ..core.registry import Family, register

PALM = register(Family(
    name="palm",
    year=2022,
    parent="gpt3",
    paper="Chowdhery et al. 2022, PaLM: Scaling Language Modeling with Pathways",
    changes="parallel SwiGLU block from one LayerNorm, multi-query attention, RoPE, no biases, shared embeddings",
    defaults=dict(norm=dict(kind="layernorm", placement="parallel_shared_norm"), position=dict(kind="rotary"),
                  mlp=dict(activation="silu", kind="glu"), attention=dict(n_kv_head=1), bias=False,
                  embedding=dict(tie=True), vocab_size=256000),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, mlp=dict(d_ff=512), max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, mlp=dict(d_ff=1536), max_positions=256),
        "8b": dict(n_layer=32, attention=dict(n_head=16, head_dim=256), d_model=4096, mlp=dict(d_ff=16384),
                   max_positions=2048),
    },
    objective="clm",
))
