"""XLNet (Yang et al. 2019, "XLNet: Generalized Autoregressive Pretraining for Language Understanding").

Diff from Transformer-XL, whose memory and relative positional attention it keeps (section 2.5):
permutation language modelling (section 2.2) instead of left-to-right: each sequence is
factorized in a random order, and only the last 1/K of each order is predicted (partial
prediction, section 2.3; ``objectives/plm.py``); two-stream attention (``models/two_stream.py``)
so a prediction knows its position but not its content; relative segment encodings (whether two
tokens share a segment, section 2.5) instead of absolute segment embeddings; GELU, no embedding
scale. Bidirectional in context: no causal mask, the permutation mask decides who reads whom.
"""

from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import FuseHeads, Rename, Tie
from ..models.recurrent import MemoryConfig
from ..models.two_stream import TwoStreamLM
from .transformer_xl import MEM_LEN_OPTION


def weight_and_bias(ours: str, theirs: str) -> tuple[Rename, Rename]:
    return Rename(f"{ours}.weight", f"{theirs}.weight"), Rename(f"{ours}.bias", f"{theirs}.bias")


L, OURS, REL = "transformer.layer.{i}.", "backbone.layers.{i}.", "backbone.score_mod."
REFERENCE = ReferenceSpec(
    model_type="xlnet",
    architecture="XLNetLMHeadModel",
    fields=(
        Field("vocab_size", "vocab_size"),
        Field("d_model", "d_model"),
        Field("n_layer", "n_layer"),
        Field("attention.n_head", "n_head"),
        Field("mlp.d_ff", "d_inner"),
        Field("mlp.activation", "ff_activation", values={"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh"}),
        Field("norm.eps", "layer_norm_eps", default=1e-12),
        Field("init.std", "initializer_range", default=0.02),
        # theirs: None or 0 keeps every state; ours: 0 keeps none (their default is 512)
        Field("mem_len", "mem_len", default=512),
    ),
    rules=(
        Rename("backbone.embed_tokens.weight", "transformer.word_embedding.weight"),
        Rename("backbone.mask_emb", "transformer.mask_emb"),
        FuseHeads(OURS + "attn.qkv.weight", tuple(f"{L}rel_attn.{p}" for p in "qkv")),
        FuseHeads(OURS + "attn.out.weight", (L + "rel_attn.o",), transpose=False),
        FuseHeads(REL + "position_proj.{i}.weight", (L + "rel_attn.r",)),
        Rename(REL + "content_bias.{i}", L + "rel_attn.r_w_bias"),  # u
        Rename(REL + "position_bias.{i}", L + "rel_attn.r_r_bias"),  # v
        Rename(REL + "segment_bias.{i}", L + "rel_attn.r_s_bias"),
        Rename(REL + "segment_embed.{i}", L + "rel_attn.seg_embed"),
        *weight_and_bias(OURS + "attn_norm", L + "rel_attn.layer_norm"),
        *weight_and_bias(OURS + "mlp.fc_in", L + "ff.layer_1"),
        *weight_and_bias(OURS + "mlp.fc_out", L + "ff.layer_2"),
        *weight_and_bias(OURS + "mlp_norm", L + "ff.layer_norm"),
        Tie("lm_head.weight", "lm_loss.weight"),
        Rename("lm_head.bias", "lm_loss.bias"),
    ),
    # one (u, v) pair per layer; bidirectional; relative distances unclamped; no second data direction
    fixed={"attn_type": "bi", "bi_data": False, "clamp_len": -1, "same_length": False},
    export_extra={"dropout": 0.0, "reuse_len": None, "tie_word_embeddings": True},
)

register(Family(
    name="xlnet",
    year=2019,
    parent="transformer-xl",
    paper="Yang et al. 2019, XLNet: Generalized Autoregressive Pretraining for Language Understanding",
    changes="permutation LM with two-stream (content, query) attention and partial prediction; relative "
            "segment encodings; bidirectional context through the factorization order",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-12, placement="post", final=False),
                  position=dict(kind="xl_relative_segments"), mlp=dict(activation="gelu", kind="mlp"), bias=True,
                  attention=dict(qkv_bias=False), embedding=dict(tie=True, head_bias=True), dropout=0.1,
                  vocab_size=32000),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, mlp=dict(d_ff=512), max_positions=64,
                     segment=32, mem_len=32, dropout=0.0),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, mlp=dict(d_ff=1536), max_positions=128,
                      segment=64, mem_len=64),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768, mlp=dict(d_ff=3072), max_positions=512,
                     segment=512, mem_len=384),  # XLNet-Base (section 3.1: memory 384 in pretraining)
        "large": dict(n_layer=24, attention=dict(n_head=16), d_model=1024, mlp=dict(d_ff=4096), max_positions=512,
                      segment=512, mem_len=384),
    },
    objective="plm",
    options=MEM_LEN_OPTION,
    reference=REFERENCE,
    build=TwoStreamLM,
    config_class=MemoryConfig,
))
