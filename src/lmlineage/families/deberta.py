"""DeBERTa (He et al. 2021, "DeBERTa: Decoding-enhanced BERT with Disentangled Attention"), in
its v2/v3 architecture (He et al. 2023, "DeBERTaV3", the released configs).

Diff from BERT: no absolute positions in the input; instead each attention adds content-to-position
and position-to-content scores from one table of relative-position embeddings shared by all layers,
and scales the three terms by 1/sqrt(3d) (section 3.1; ``layers/disentangled.py``, plugged into the
shared attention's ``score_mod`` hook). v2/v3: log-spaced position buckets, a LayerNorm on the
table, the table read by the layer's own query/key projections (v3), no segment embeddings.
Pre-trained here with the masked LM (v3's replaced-token detection is ELECTRA's objective).
"""

from dataclasses import dataclass, replace

from ..models.encoder import EncoderModel
from ..core.errors import UserError
from ..core.config import DISENTANGLED_TERMS, merge
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Ignore, Rename
from .bert import BERT, mlm_rules, weight_and_bias
from .bert import FIELDS as BERT_FIELDS


class DebertaModel(EncoderModel):
    def __init__(self, cfg):
        super().__init__(cfg, positions=(cfg.position.kind, "disentangled"))  # absolute positions only if biased input


@dataclass(frozen=True)
class Terms(Field):
    """``pos_att_type``: a list, or the older "p2c|c2p" string."""

    def read(self, config: dict):
        value = config.get(self.theirs) or []
        names = [t.strip().lower() for t in (value.split("|") if isinstance(value, str) else value)]
        unknown = sorted(set(names) - set(DISENTANGLED_TERMS))
        if unknown:
            raise UserError(f"config.json {self.theirs}: {', '.join(unknown)} is not supported",
                            f"supported: {', '.join(DISENTANGLED_TERMS)}")
        return [t for t in DISENTANGLED_TERMS if t in names]

    def write(self, value):
        return list(value)


# BERT's config keys; DeBERTa-v2's configs differ only in what a missing key means.
_DEFAULTS = {"max_positions": 512, "embedding.type_vocab_size": 0, "norm.eps": 1e-7}
FIELDS = (
    *(replace(f, default=_DEFAULTS[f.ours]) if f.ours in _DEFAULTS else f for f in BERT_FIELDS),
    Field("position.kind", "position_biased_input", values={True: "learned", False: "none"}, default=True),
    Field("position.disentangled.buckets", "position_buckets", default=-1),
    Field("position.disentangled.max_distance", "max_relative_positions", default=-1),
    Terms("position.disentangled.terms", "pos_att_type"),
    Field("position.disentangled.share_projections", "share_att_key", default=False),
    Field("position.disentangled.norm_table", "norm_rel_ebd", values={"none": False, "layer_norm": True},
          default="none"),
)


def encoder_rules(prefix: str) -> tuple:
    emb, layer, ours = f"{prefix}embeddings.", f"{prefix}encoder.layer.{{i}}.", "backbone.layers.{i}."
    qkv = lambda p: tuple(f"{layer}attention.self.{n}_proj.{p}" for n in ("query", "key", "value"))  # noqa: E731
    rel = "backbone.score_mod."
    return (
        Rename("backbone.embed_tokens.weight", emb + "word_embeddings.weight"),
        Rename("backbone.embed_positions.weight", emb + "position_embeddings.weight"),  # where position_biased_input
        Rename("backbone.embed_segments.weight", emb + "token_type_embeddings.weight"),  # where type_vocab_size > 0
        *weight_and_bias("backbone.embed_norm", emb + "LayerNorm"),
        Ignore(emb + "position_ids"),
        Fuse(ours + "attn.qkv.weight", qkv("weight")),
        Fuse(ours + "attn.qkv.bias", qkv("bias")),
        *weight_and_bias(ours + "attn.out", layer + "attention.output.dense"),
        *weight_and_bias(ours + "attn_norm", layer + "attention.output.LayerNorm"),
        *weight_and_bias(ours + "mlp.fc_in", layer + "intermediate.dense"),
        *weight_and_bias(ours + "mlp.fc_out", layer + "output.dense"),
        *weight_and_bias(ours + "mlp_norm", layer + "output.LayerNorm"),
        # The disentangled attention: the shared table (+ its norm), each layer's position projections.
        Rename(rel + "rel_embeddings.weight", f"{prefix}encoder.rel_embeddings.weight"),
        *weight_and_bias(rel + "norm", f"{prefix}encoder.LayerNorm"),
        *weight_and_bias(rel + "pos_key.{i}", layer + "attention.self.pos_key_proj"),
        *weight_and_bias(rel + "pos_query.{i}", layer + "attention.self.pos_query_proj"),
    )


def reference(architecture: str, heads: list[str], rules: tuple) -> ReferenceSpec:
    return ReferenceSpec(
        model_type="deberta-v2", architecture=architecture, fields=FIELDS, rules=rules,
        # Relative attention on, BERT-style MLM head ("legacy"), no convolution beside layer 0.
        fixed={"relative_attention": True, "legacy": True, "conv_kernel_size": 0},
        export_extra={"pad_token_id": 0}, implies={"heads": heads},
    )


REFERENCES = (
    reference("DebertaV2ForMaskedLM", ["mlm"], encoder_rules("deberta.") + mlm_rules()),
    reference("DebertaV2Model", [], encoder_rules("")),
)

register(Family(
    name="deberta",
    year=2020,
    parent="bert",
    paper="He et al. 2021, DeBERTa: Decoding-enhanced BERT with Disentangled Attention (v2/v3 architecture)",
    changes="disentangled attention: content and relative-position scores (c2p, p2c) from a shared table; "
            "no absolute positions",
    defaults=merge(BERT.defaults, dict(
        norm=dict(eps=1e-7), embedding=dict(type_vocab_size=0), vocab_size=128100, max_positions=512, heads=["mlm"],
        # DeBERTa-v3's released configs: 256 log buckets, normalised table, shared projections
        position=dict(kind="none", disentangled=dict(buckets=256, max_distance=-1, terms=list(DISENTANGLED_TERMS),
                                                     share_projections=True, norm_table=True)))),
    presets={
        "tiny": dict(n_layer=2, attention=dict(n_head=2), d_model=128),
        "xsmall": dict(n_layer=12, attention=dict(n_head=6), d_model=384, mlp=dict(d_ff=1536)),  # DeBERTa-v3-xsmall
        "small": dict(n_layer=6, attention=dict(n_head=12), d_model=768),  # DeBERTa-v3-small
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768),  # DeBERTa-v3-base (86M backbone)
        "large": dict(n_layer=24, attention=dict(n_head=16), d_model=1024),  # DeBERTa-v3-large
    },
    objective="mlm",
    default_tokenizer="wordpiece",  # ours has [MASK]; the released models use a SentencePiece vocabulary
    architecture="encoder",
    reference=REFERENCES,
    build=DebertaModel,
))
