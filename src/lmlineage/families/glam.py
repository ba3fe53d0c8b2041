"""GLaM (Du et al. 2022, "GLaM: Efficient Scaling of Language Models with Mixture-of-Experts").

Diff from GPT-3, section 4 ("Model Architecture"): the feed-forward sub-layer of every other
Transformer layer becomes a mixture-of-experts layer, and "the gating network dynamically picks
the best two experts for each token" (GShard's top-2 gating, Lepikhin et al. 2020, with its
load-balancing loss); the other feed-forward layers are gated linear units with GELU.
Not reproduced here: the paper replaces absolute positions by Transformer-XL's per-layer
relative position bias (Dai et al. 2019), which this library does not have yet, so learned
absolute positions stand in; its experts are plain two-layer MLPs, while here every feed-forward
layer, expert or dense, is the same GLU. No reference implementation exists: tests show an MoE
layer with one expert equal to the dense layer, and GLaM reduced that way equal to GPT-2.
"""

from ..core.registry import Family, register

register(Family(
    name="glam",
    year=2021,
    parent="gpt3",
    paper="Du et al. 2022, GLaM: Efficient Scaling of Language Models with Mixture-of-Experts",
    changes="mixture of experts in every other feed-forward layer, top-2 gating; GLU feed-forward layers",
    defaults=dict(norm=dict(kind="layernorm", placement="pre"), position=dict(kind="learned"),
                  mlp=dict(activation="gelu", kind="glu"), bias=False, embedding=dict(tie=True), vocab_size=256000,
                  # capacity factor 1: 2N/E slots per expert for N tokens, as GShard
                  moe=dict(n_experts=64, every=2, top_k=2, capacity_factor=1.0, aux_coef=0.01)),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, mlp=dict(d_ff=352), moe=dict(n_experts=4),
                     max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, mlp=dict(d_ff=1024), moe=dict(n_experts=8),
                      max_positions=256),
        # Table 4's smallest and largest: 64 experts each.
        "0.1b-64e": dict(n_layer=12, attention=dict(n_head=12), d_model=768, mlp=dict(d_ff=3072), max_positions=1024),
        "64b-64e": dict(n_layer=64, attention=dict(n_head=128), d_model=8192, mlp=dict(d_ff=32768), max_positions=1024),
    },
    objective="clm",
))
