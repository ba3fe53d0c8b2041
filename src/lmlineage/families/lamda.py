"""LaMDA (Thoppilan et al. 2022, "LaMDA: Language Models for Dialog Applications").

Diff from its parent: a decoder-only Transformer (section 3) with T5's relative position buckets
(causal) and gated-GELU feed-forward layers, pre-trained on dialogue, then fine-tuned to address
a toolset (section 6.2: an information retrieval system, a calculator and a translator) and to
ground its answers in what the tools return. The tools and the loop that runs them live in
``rl.tools`` (`lmlineage generate RUN --tools`); the fine-tuning dialogues are generated from
templates (``data.tool_dialogues``, the ``tool-dialogues`` corpus `train lamda` reads by default).
"""

from ..core.registry import Family, register

LAMDA = register(Family(
    name="lamda",
    year=2022,
    parent="t5",
    paper="Thoppilan et al. 2022, LaMDA: Language Models for Dialog Applications",
    changes="decoder-only dialogue model with T5 relative positions and gated GELU; learns to call a toolset "
            "(calculator, search, translator) and continue from its results",
    defaults=dict(norm=dict(kind="rmsnorm", eps=1e-6, placement="pre"), position=dict(kind="relative"),
                  mlp=dict(kind="glu", activation="gelu_tanh"), bias=False, embedding=dict(tie=True), dropout=0.0),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, mlp=dict(d_ff=384), max_positions=128),
        # Table 27: the 2B and 8B dialogue models (the 137B is 64 layers, d_model 8192, 128 heads).
        "2b": dict(n_layer=10, attention=dict(n_head=40, head_dim=64), d_model=2560, mlp=dict(d_ff=10240),
                   max_positions=1024),
        "8b": dict(n_layer=16, attention=dict(n_head=64, head_dim=64), d_model=4096, mlp=dict(d_ff=16384),
                   max_positions=1024),
    },
    objective="clm+tools",
))
