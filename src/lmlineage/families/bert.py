"""BERT (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding").

Diff from the Transformer: the encoder alone, every token attending both ways (section 3);
learned positions plus segment (sentence A/B) embeddings summed with the tokens, then LayerNorm
(section 3, figure 2); GELU instead of ReLU (appendix A.2); pre-trained with the masked LM and
next sentence prediction (section 3.1), through a pooler on [CLS] and an MLM head tied to the
word embeddings. Post-LN blocks as in the Transformer, d_ff = 4d, WordPiece vocabulary of 30522.
"""

from ..models.encoder import EncoderModel
from ..core.registry import Family, register
from ..interop.reference import Field, LabelIds, LabelNames, ReferenceSpec
from ..interop.rules import Copies, Fuse, Ignore, Rename, Tie


def weight_and_bias(ours: str, theirs: str) -> tuple[Rename, Rename]:
    return Rename(f"{ours}.weight", f"{theirs}.weight"), Rename(f"{ours}.bias", f"{theirs}.bias")


def encoder_rules(prefix: str, stack: str = "backbone.") -> tuple:
    """The backbone under ``prefix`` ("bert." inside task models, "" in a bare BertModel), ours
    under ``stack``; RoBERTa, and others that keep BERT's module names, reuse it."""
    emb, layer, ours = f"{prefix}embeddings.", f"{prefix}encoder.layer.{{i}}.", f"{stack}layers.{{i}}."
    qkv = lambda p: tuple(f"{layer}attention.self.{n}.{p}" for n in ("query", "key", "value"))  # noqa: E731
    return (
        Rename(f"{stack}embed_tokens.weight", emb + "word_embeddings.weight"),
        Rename(f"{stack}embed_positions.weight", emb + "position_embeddings.weight"),
        Rename(f"{stack}embed_segments.weight", emb + "token_type_embeddings.weight"),
        *weight_and_bias(f"{stack}embed_norm", emb + "LayerNorm"),
        Ignore(emb + "position_ids"),  # a buffer older checkpoints carry
        Fuse(ours + "attn.qkv.weight", qkv("weight")),
        Fuse(ours + "attn.qkv.bias", qkv("bias")),
        *weight_and_bias(ours + "attn.out", layer + "attention.output.dense"),
        *weight_and_bias(ours + "attn_norm", layer + "attention.output.LayerNorm"),  # post-LN
        *weight_and_bias(ours + "mlp.fc_in", layer + "intermediate.dense"),
        *weight_and_bias(ours + "mlp.fc_out", layer + "output.dense"),
        *weight_and_bias(ours + "mlp_norm", layer + "output.LayerNorm"),
    )


def pooler_rules(prefix: str) -> tuple:
    return weight_and_bias("pooler.dense", f"{prefix}pooler.dense")


def mlm_rules(head: str = "cls.predictions", transform: str = "transform.dense",
              norm: str = "transform.LayerNorm", ours: str = "mlm") -> tuple:
    return (
        *weight_and_bias(f"{ours}.transform", f"{head}.{transform}"),
        *weight_and_bias(f"{ours}.norm", f"{head}.{norm}"),
        # The output bias, stored again under the decoder where untied (transformers then uses that copy).
        Copies(f"{ours}.decoder.bias", (f"{head}.decoder.bias", f"{head}.bias")),
        Tie(f"{ours}.decoder.weight", f"{head}.decoder.weight"),
    )


NSP_RULES = weight_and_bias("nsp", "cls.seq_relationship")

FIELDS = (
    Field("vocab_size", "vocab_size"),
    Field("n_layer", "num_hidden_layers"),
    Field("attention.n_head", "num_attention_heads"),
    Field("d_model", "hidden_size"),
    Field("mlp.d_ff", "intermediate_size"),
    Field("max_positions", "max_position_embeddings"),
    Field("embedding.type_vocab_size", "type_vocab_size", default=2),
    Field("norm.eps", "layer_norm_eps", default=1e-12),
    Field("mlp.activation", "hidden_act",
          values={"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}),
    Field("init.std", "initializer_range", default=0.02),
    # Our one dropout rate: written to both keys; on import the hidden-state rate wins.
    Field("dropout", "attention_probs_dropout_prob", default=0.1),
    Field("dropout", "hidden_dropout_prob", default=0.1),
    Field("embedding.tie", "tie_word_embeddings", default=True),
)


def reference(architecture: str, heads: list[str], rules: tuple, fields: tuple = FIELDS) -> ReferenceSpec:
    return ReferenceSpec(
        model_type="bert", architecture=architecture, fields=fields, rules=rules,
        fixed={"position_embedding_type": "absolute", "is_decoder": False, "add_cross_attention": False},
        export_extra={"pad_token_id": 0}, implies={"heads": heads},
    )


REFERENCES = (
    reference("BertForPreTraining", ["pooler", "mlm", "nsp"],
              encoder_rules("bert.") + pooler_rules("bert.") + mlm_rules() + NSP_RULES),
    reference("BertForMaskedLM", ["mlm"], encoder_rules("bert.") + mlm_rules()),
    reference("BertModel", ["pooler"], encoder_rules("") + pooler_rules("")),  # e.g. sentence embedders
)

# Fine-tuning (section 4, figure 4): the backbone under "bert.", one task layer (heads/tasks.py),
# the labels in id2label. Reference class -> (our heads, its rules beyond the backbone).
TASKS = {
    "BertForSequenceClassification": (["pooler", "classifier"],
                                      pooler_rules("bert.") + weight_and_bias("classifier.out", "classifier")),
    "BertForMultipleChoice": (["pooler", "choice"], pooler_rules("bert.") + weight_and_bias("choice.out", "classifier")),
    "BertForTokenClassification": (["tagger"], weight_and_bias("tagger.out", "classifier")),
    "BertForQuestionAnswering": (["span"], weight_and_bias("span.out", "qa_outputs")),
}
LABELS = (LabelNames("labels", "id2label"), LabelIds("labels", "label2id"))
REFERENCES += tuple(reference(name, heads, encoder_rules("bert.") + rules, FIELDS + LABELS)
                    for name, (heads, rules) in TASKS.items())

BERT = register(Family(
    name="bert",
    year=2018,
    parent="transformer",
    paper="Devlin et al. 2019, BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
    changes="encoder only, attends both ways; segment embeddings; GELU; masked LM + next sentence prediction",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-12, placement="post", after_embeddings=True, final=False),
                  position=dict(kind="learned"), mlp=dict(activation="gelu"), bias=True,
                  embedding=dict(tie=True, type_vocab_size=2), vocab_size=30522, max_positions=512, dropout=0.1,
                  heads=["pooler", "mlm", "nsp"]),
    presets={
        # tiny and small: the BERT miniatures of Turc et al. 2019 (BERT-Tiny, BERT-Small).
        "tiny": dict(n_layer=2, attention=dict(n_head=2), d_model=128),
        "small": dict(n_layer=4, attention=dict(n_head=8), d_model=512),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768),  # 110M (section 3)
        "large": dict(n_layer=24, attention=dict(n_head=16), d_model=1024),  # 340M (section 3)
    },
    objective="mlm+nsp",  # next sentence prediction on the pooled [CLS]
    default_tokenizer="wordpiece",
    architecture="encoder",
    reference=REFERENCES,
    build=EncoderModel,
))
