"""ALBERT (Lan et al. 2020, "ALBERT: A Lite BERT for Self-supervised Learning of Language
Representations").

Diff from BERT (section 3.1): factorized embedding parameterization, word pieces embedded at
E << H and projected up to the hidden width (E = 128 in every size); cross-layer parameter
sharing, one set of block weights applied at every layer ("share all parameters across layers");
sentence-order prediction instead of next sentence prediction (two consecutive segments, swapped
half the time), on the same pooler + 2-way head. The MLM head projects back down to E, tied to
the E-wide word embeddings. GELU in its tanh form ("gelu_new"), SentencePiece vocabulary of 30000.
"""

from ..models.encoder import EncoderModel
from ..core.config import merge
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Ignore, Rename
from .bert import BERT, FIELDS, mlm_rules, weight_and_bias

EMB, LAYER, OURS = "albert.embeddings.", "albert.encoder.albert_layer_groups.0.albert_layers.0.", "backbone.layers.0."
QKV = lambda p: tuple(f"{LAYER}attention.{n}.{p}" for n in ("query", "key", "value"))  # noqa: E731

RULES = (
    Rename("backbone.embed_tokens.weight", EMB + "word_embeddings.weight"),
    Rename("backbone.embed_positions.weight", EMB + "position_embeddings.weight"),
    Rename("backbone.embed_segments.weight", EMB + "token_type_embeddings.weight"),
    *weight_and_bias("backbone.embed_norm", EMB + "LayerNorm"),
    Ignore(EMB + "position_ids"),
    *weight_and_bias("backbone.embed_proj", "albert.encoder.embedding_hidden_mapping_in"),  # E -> H
    # The one shared layer (group 0, inner layer 0), used n_layer times.
    Fuse(OURS + "attn.qkv.weight", QKV("weight")),
    Fuse(OURS + "attn.qkv.bias", QKV("bias")),
    *weight_and_bias(OURS + "attn.out", LAYER + "attention.dense"),
    *weight_and_bias(OURS + "attn_norm", LAYER + "attention.LayerNorm"),
    *weight_and_bias(OURS + "mlp.fc_in", LAYER + "ffn"),
    *weight_and_bias(OURS + "mlp.fc_out", LAYER + "ffn_output"),
    *weight_and_bias(OURS + "mlp_norm", LAYER + "full_layer_layer_norm"),
    *weight_and_bias("pooler.dense", "albert.pooler"),
    *mlm_rules("predictions", transform="dense", norm="LayerNorm"),  # H -> E -> vocabulary
    *weight_and_bias("sop", "sop_classifier.classifier"),
)

REFERENCE = ReferenceSpec(
    model_type="albert", architecture="AlbertForPreTraining", rules=RULES,
    fields=FIELDS + (Field("embedding.dim", "embedding_size", default=128),
                     # Sharing across all layers, the paper's setting; other groupings are not read.
                     Field("layer_groups", "num_hidden_groups", values={1: 1}, default=1)),
    fixed={"inner_group_num": 1, "position_embedding_type": "absolute"},
    export_extra={"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3},
    implies={"heads": ["pooler", "mlm", "sop"]},
)

register(Family(
    name="albert",
    year=2019,
    parent="bert",
    paper="Lan et al. 2020, ALBERT: A Lite BERT for Self-supervised Learning of Language Representations",
    changes="factorized embeddings (E << H); one set of layer weights shared by all layers; sentence-order prediction",
    defaults=merge(BERT.defaults,
                   {"mlp": {"activation": "gelu_tanh"}, "vocab_size": 30000, "dropout": 0.0,
                    "embedding": {"dim": 128}, "layer_groups": 1, "heads": ["pooler", "mlm", "sop"]}),
    presets={
        # twice bert tiny's layers and half its window: the same work per step
        "tiny": dict(n_layer=4, attention=dict(n_head=2), d_model=128, embedding=dict(dim=32), max_positions=256),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768),  # 12M parameters (table 1)
        "large": dict(n_layer=24, attention=dict(n_head=16), d_model=1024),  # 18M
        "xlarge": dict(n_layer=24, attention=dict(n_head=32), d_model=2048),  # 60M
        "xxlarge": dict(n_layer=12, attention=dict(n_head=64), d_model=4096),  # 235M
    },
    objective="mlm+sop",
    default_tokenizer="wordpiece",  # ours carries [CLS]/[SEP]/[MASK]; the paper used SentencePiece
    architecture="encoder",
    reference=REFERENCE,
    build=EncoderModel,
))
