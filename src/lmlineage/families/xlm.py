"""XLM (Lample & Conneau 2019, "Cross-lingual Language Model Pretraining").

Parent: BERT. The model is BERT's post-LN encoder (learned positions, embedding LayerNorm, GELU,
d_ff = 4d, section 3 and the released code); what XLM changed is the data and the objectives,
which is why it descends from the masked-LM encoder rather than from GPT, whose causal LM is
only one of its three objectives:

- one BPE vocabulary shared by every language (section 3.1), so a word piece means the same
  id in English and Chinese;
- language embeddings added to tokens and positions (section 3.3, figure 1) in place of BERT's
  segment embeddings: our segment table, one row per language (``embedding.type_vocab_size``);
- three objectives (section 3): causal LM (CLM: the same stack read left to right, ``causal``),
  masked LM on monolingual text (MLM, BERT's 15% / 80-10-10, without NSP), and translation LM
  (TLM) on parallel sentences concatenated, positions restarting in the second language and
  masks drawn over both, so a masked English word may be read off its Chinese translation.
- the prediction layer is the word embeddings (tied) plus a bias, with no transform.

The reference is ``XLMWithLMHeadModel``; our CLM model is the decoder LM, MLM / TLM the encoder
with XLM's ``masked_lm_head``, one weight layout for both. XLM zeroes padded positions after every
layer; a real token's states are the same either way (its attention never reads padding).
"""

from dataclasses import dataclass

from ..core.config import ModelConfig, merge
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Ignore, Rename, Tie
from ..models.decoder import DecoderLM
from ..models.encoder import EncoderModel
from .bert import BERT, weight_and_bias


@dataclass
class XLMConfig(ModelConfig):
    # CLM: every position reads only itself and earlier ones (XLM's ``causal``); MLM / TLM: both ways
    causal: bool = False


@dataclass(frozen=True)
class Languages(Field):
    """Our language (segment) table's rows <-> ``n_langs``; XLM keeps no table for one language."""

    def read(self, config: dict):
        n = config.get("n_langs", 1)
        return n if n > 1 and config.get("use_lang_emb", True) else 0

    def write(self, value):
        return max(value, 1)


def backbone_rules() -> tuple:
    t, ours = "transformer.", "backbone.layers.{i}."
    qkv = lambda p: tuple(f"{t}attentions.{{i}}.{n}_lin.{p}" for n in "qkv")  # noqa: E731
    return (
        Rename("backbone.embed_tokens.weight", t + "embeddings.weight"),
        Rename("backbone.embed_positions.weight", t + "position_embeddings.weight"),
        Rename("backbone.embed_segments.weight", t + "lang_embeddings.weight"),
        *weight_and_bias("backbone.embed_norm", t + "layer_norm_emb"),
        Ignore(t + "position_ids"),  # a buffer older checkpoints carry
        Fuse(ours + "attn.qkv.weight", qkv("weight")),
        Fuse(ours + "attn.qkv.bias", qkv("bias")),
        *weight_and_bias(ours + "attn.out", t + "attentions.{i}.out_lin"),
        *weight_and_bias(ours + "attn_norm", t + "layer_norm1.{i}"),
        *weight_and_bias(ours + "mlp.fc_in", t + "ffns.{i}.lin1"),
        *weight_and_bias(ours + "mlp.fc_out", t + "ffns.{i}.lin2"),
        *weight_and_bias(ours + "mlp_norm", t + "layer_norm2.{i}"),
    )


FIELDS = (
    Field("vocab_size", "vocab_size"),
    Field("n_layer", "n_layers"),
    Field("attention.n_head", "n_heads"),
    Field("d_model", "emb_dim"),
    Field("max_positions", "max_position_embeddings"),
    Languages("embedding.type_vocab_size", "n_langs"),
    Field("norm.eps", "layer_norm_eps", default=1e-12),
    Field("init.std", "init_std", default=0.02),
    Field("dropout", "dropout", default=0.1),
    Field("dropout", "attention_dropout", default=0.1),
    Field("causal", "causal", default=False),
)


def reference(causal: bool, head: str) -> ReferenceSpec:
    return ReferenceSpec(
        model_type="xlm", architecture="XLMWithLMHeadModel", fields=FIELDS,
        rules=backbone_rules() + (Rename(f"{head}.bias", "pred_layer.proj.bias"),
                                  Tie(f"{head}.weight", "pred_layer.proj.weight")),
        # d_ff is 4 * emb_dim there; GELU, learned positions, a tied single-softmax output
        fixed={"causal": causal, "gelu_activation": True, "sinusoidal_embeddings": False, "asm": False,
               "is_encoder": True, "use_lang_emb": True, "tie_word_embeddings": True},
        implies={"causal": causal, "heads": [] if causal else ["masked_lm_head"]},
        requires=(("mlp.d_ff", lambda cfg: 4 * cfg.d_model, "its feed-forward width is always 4 x emb_dim"),),
    )


def build(cfg: XLMConfig):
    """CLM reads left to right through the decoder LM; MLM and TLM both ways through the encoder."""
    return DecoderLM(cfg) if cfg.causal else EncoderModel(cfg)


XLM = register(Family(
    name="xlm",
    year=2019,
    parent="bert",
    paper="Lample & Conneau 2019, Cross-lingual Language Model Pretraining",
    changes="one BPE for all languages; language embeddings; CLM, MLM and translation LM on parallel pairs",
    # two languages (English 0, Chinese 1 in the verse pairs); monolingual text is language 0
    defaults=merge(BERT.defaults, {"vocab_size": 8000, "heads": ["masked_lm_head"], "embedding": {"head_bias": True}}),
    presets={
        "tiny": dict(n_layer=2, attention=dict(n_head=2), d_model=128, max_positions=128),
        "small": dict(n_layer=4, attention=dict(n_head=8), d_model=512, max_positions=256),
        # The released XLM models: 1024 wide, 8 heads, 6 layers (e.g. xlm-mlm-enfr-1024), 12 (xnli15).
        "base": dict(n_layer=6, attention=dict(n_head=8), d_model=1024),
        "large": dict(n_layer=12, attention=dict(n_head=8), d_model=1024),
    },
    objective="mlm",
    objectives={"mlm": {"causal": False, "heads": ["masked_lm_head"]}, "clm": {"causal": True, "heads": []},
                "tlm": {"causal": False, "heads": ["masked_lm_head"]}},
    default_tokenizer="bpe",
    architecture="encoder",
    reference=(reference(False, "masked_lm_head"), reference(True, "lm_head")),
    build=build,
    config_class=XLMConfig,
))
