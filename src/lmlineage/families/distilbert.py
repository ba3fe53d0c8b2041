"""DistilBERT (Sanh et al. 2019, "DistilBERT, a distilled version of BERT: smaller, faster,
cheaper and lighter").

Diff from BERT (section 3): the same blocks, half as many ("the number of layers is reduced by
a factor of 2"), initialised from the teacher "by taking one layer out of two"; the token-type
embeddings and the pooler are removed, and so is next sentence prediction. Trained by
distillation from a BERT teacher (section 2): masked LM + soft-target cross-entropy at a
temperature + cosine alignment of the hidden states (tasks/distillation.py). Its reference
checkpoints lay the same tensors out under DistilBERT's own names.
"""

from ..models.encoder import EncoderModel
from ..core.config import merge
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Ignore, Rename, Tie
from .bert import BERT, weight_and_bias


def backbone_rules(prefix: str) -> tuple:
    emb, layer, ours = f"{prefix}embeddings.", f"{prefix}transformer.layer.{{i}}.", "backbone.layers.{i}."
    qkv = lambda p: tuple(f"{layer}attention.{n}_lin.{p}" for n in ("q", "k", "v"))  # noqa: E731
    return (
        Rename("backbone.embed_tokens.weight", emb + "word_embeddings.weight"),
        Rename("backbone.embed_positions.weight", emb + "position_embeddings.weight"),
        *weight_and_bias("backbone.embed_norm", emb + "LayerNorm"),
        Ignore(emb + "position_ids"),
        Fuse(ours + "attn.qkv.weight", qkv("weight")),
        Fuse(ours + "attn.qkv.bias", qkv("bias")),
        *weight_and_bias(ours + "attn.out", layer + "attention.out_lin"),
        *weight_and_bias(ours + "attn_norm", layer + "sa_layer_norm"),
        *weight_and_bias(ours + "mlp.fc_in", layer + "ffn.lin1"),
        *weight_and_bias(ours + "mlp.fc_out", layer + "ffn.lin2"),
        *weight_and_bias(ours + "mlp_norm", layer + "output_layer_norm"),
    )


MLM_RULES = (
    *weight_and_bias("mlm.transform", "vocab_transform"),
    *weight_and_bias("mlm.norm", "vocab_layer_norm"),
    Rename("mlm.decoder.bias", "vocab_projector.bias"),
    Tie("mlm.decoder.weight", "vocab_projector.weight"),
)

FIELDS = (
    Field("vocab_size", "vocab_size"),
    Field("n_layer", "n_layers"),
    Field("attention.n_head", "n_heads"),
    Field("d_model", "dim"),
    Field("mlp.d_ff", "hidden_dim"),
    Field("max_positions", "max_position_embeddings"),
    Field("mlp.activation", "activation", values={"gelu": "gelu", "relu": "relu"}),
    Field("init.std", "initializer_range", default=0.02),
    Field("dropout", "attention_dropout", default=0.1),
    Field("dropout", "dropout", default=0.1),
    Field("embedding.tie", "tie_word_embeddings", default=True),
)


def reference(architecture: str, heads: list[str], rules: tuple) -> ReferenceSpec:
    return ReferenceSpec(
        model_type="distilbert", architecture=architecture, fields=FIELDS, rules=rules,
        fixed={"sinusoidal_pos_embds": False}, export_extra={"pad_token_id": 0}, implies={"heads": heads},
    )


REFERENCES = (
    reference("DistilBertForMaskedLM", ["mlm"], backbone_rules("distilbert.") + MLM_RULES),
    reference("DistilBertModel", [], backbone_rules("")),
)

register(Family(
    name="distilbert",
    year=2019,
    parent="bert",
    paper="Sanh et al. 2019, DistilBERT, a distilled version of BERT: smaller, faster, cheaper and lighter",
    changes="half the layers, initialised from every other teacher layer; no segments, pooler or NSP; distilled",
    # Its LayerNorms use BERT's 1e-12, fixed in the reference code (no config key).
    defaults=merge(BERT.defaults, {"embedding": {"type_vocab_size": 0}, "heads": ["mlm"]}),
    presets={  # half of each BERT preset's depth, at its width: what `--teacher` of that preset gives
        "tiny": dict(n_layer=1, attention=dict(n_head=2), d_model=128),
        "small": dict(n_layer=2, attention=dict(n_head=8), d_model=512),
        "base": dict(n_layer=6, attention=dict(n_head=12), d_model=768),  # 66M (section 3)
    },
    objective="distill",
    options={"teacher": dict(metavar="PATH", help="distilbert (required): the trained bert run or checkpoint to distil")},
    default_tokenizer="wordpiece",
    architecture="encoder",
    reference=REFERENCES,
    build=EncoderModel,
))
