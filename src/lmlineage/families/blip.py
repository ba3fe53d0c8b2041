"""BLIP (Li et al. 2022, "BLIP: Bootstrapping Language-Image Pre-training for Unified
Vision-Language Understanding and Generation").

Diff from ViT and BERT: a ViT image tower beside a BERT text tower whose blocks gain a
cross-attention layer over the image tokens (section 3.1, figure 2), pre-trained with three losses
at once (section 3.2): image-text contrast (ITC) between the unimodal towers' [CLS] vectors,
image-text matching (ITM) on the image-grounded encoder with hard negatives mined from the
contrastive scores, and captioning (LM) by an image-grounded decoder that shares all but its
self-attention with the encoder. The model is ``models/image_grounded_text.py``; the losses
``tasks/captioning.py``.
"""

from dataclasses import dataclass

from ..core.config import ImageTextConfig, merge, require_positive, require_range
from ..core.errors import UserError
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Ignore, Rename, Within
from ..models.image_grounded_text import ImageTextModel
from .bert import encoder_rules as bert_rules
from .bert import mlm_rules, weight_and_bias

ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
               "quick_gelu": "quick_gelu"}


@dataclass
class BlipConfig(ImageTextConfig):
    """The text tower's config with the image tower's as ``vision``, and the width both are
    projected to for the contrastive loss. The text tower's cross-attention reads the image
    tokens, so the two towers have one width."""

    projection_dim: int = 256
    temperature: float = 0.07  # the contrastive softmax's (BLIP's initial value, as CLIP's)

    def validate(self, where: str = "") -> None:
        super().validate(where)
        require_positive(self, where, "projection_dim")
        require_range(self, where, "temperature", 0, True)
        if self.vision.d_model != self.d_model:
            raise UserError(f"config vision.d_model={self.vision.d_model} differs from d_model={self.d_model}",
                            "the text tower's cross-attention reads the image tokens: give both one width")


def vision_rules(prefix: str = "vision_model.") -> Within:
    """BLIP's ViT (pre-LN, one fused qkv, a final ``post_layernorm``) onto our image tower."""
    emb, layer, ours = f"{prefix}embeddings.", f"{prefix}encoder.layers.{{i}}.", "backbone.layers.{i}."
    return Within("vision", (
        Rename("patches.cls", emb + "class_embedding"),
        Rename("patches.positions", emb + "position_embedding"),
        *weight_and_bias("patches.proj", emb + "patch_embedding"),
        *weight_and_bias(ours + "attn.qkv", layer + "self_attn.qkv"),  # q, k, v stacked, as ours
        *weight_and_bias(ours + "attn.out", layer + "self_attn.projection"),
        *weight_and_bias(ours + "attn_norm", layer + "layer_norm1"),
        *weight_and_bias(ours + "mlp.fc_in", layer + "mlp.fc1"),
        *weight_and_bias(ours + "mlp.fc_out", layer + "mlp.fc2"),
        *weight_and_bias(ours + "mlp_norm", layer + "layer_norm2"),
        *weight_and_bias("backbone.norm", prefix + "post_layernorm"),
    ))


def text_rules(prefix: str, stack: str) -> tuple:
    """BERT's layers with BLIP's cross-attention between self-attention and the feed-forward."""
    layer, ours = f"{prefix}encoder.layer.{{i}}.crossattention.", f"{stack}layers.{{i}}."
    kv = lambda p: (f"{layer}self.key.{p}", f"{layer}self.value.{p}")  # noqa: E731
    return bert_rules(prefix, stack) + (
        *weight_and_bias(ours + "cross_attn.q", layer + "self.query"),
        Fuse(ours + "cross_attn.kv.weight", kv("weight")),
        Fuse(ours + "cross_attn.kv.bias", kv("bias")),
        *weight_and_bias(ours + "cross_attn.out", layer + "output.dense"),
        *weight_and_bias(ours + "cross_norm", layer + "output.LayerNorm"),
    )


def fields(prefix: str = "") -> tuple:
    t, v = f"{prefix}text_config.", f"{prefix}vision_config."
    return (
        Field("vocab_size", t + "vocab_size"),
        Field("d_model", t + "hidden_size"),
        Field("n_layer", t + "num_hidden_layers"),
        Field("attention.n_head", t + "num_attention_heads"),
        Field("mlp.d_ff", t + "intermediate_size"),
        Field("max_positions", t + "max_position_embeddings", default=512),
        Field("norm.eps", t + "layer_norm_eps", default=1e-12),
        Field("mlp.activation", t + "hidden_act", values=ACTIVATIONS),
        Field("init.std", t + "initializer_range", default=0.02),
        Field("dropout", t + "attention_probs_dropout_prob", default=0.0),
        Field("dropout", t + "hidden_dropout_prob", default=0.0),
        Field("embedding.tie", t + "tie_word_embeddings", default=True),
        Field("decoder.start_id", t + "bos_token_id", default=30522),  # [DEC], which starts every caption
        Field("decoder.eos_id", t + "sep_token_id", default=102),  # [SEP] ends it
        Field("decoder.pad_id", t + "pad_token_id", default=0),
        Field("vision.d_model", t + "encoder_hidden_size"),
        Field("vision.d_model", v + "hidden_size"),
        Field("vision.n_layer", v + "num_hidden_layers"),
        Field("vision.attention.n_head", v + "num_attention_heads"),
        Field("vision.mlp.d_ff", v + "intermediate_size"),
        Field("vision.image.size", v + "image_size", default=384),
        Field("vision.image.patch", v + "patch_size", default=16),
        Field("vision.norm.eps", v + "layer_norm_eps", default=1e-5),
        Field("vision.mlp.activation", v + "hidden_act", values=ACTIVATIONS),
        Field("vision.init.std", v + "initializer_range", default=0.02),
        Field("vision.dropout", v + "attention_dropout", default=0.0),
        Field("projection_dim", "image_text_hidden_size", default=256),
    )


REFERENCES = (
    ReferenceSpec(model_type="blip", architecture="BlipForConditionalGeneration", fields=fields(),
                  rules=(vision_rules(), *text_rules("text_decoder.bert.", "text_decoder."),
                         Ignore("text_decoder.bert.embeddings.position_ids"),
                         *mlm_rules("text_decoder.cls.predictions", ours="lm")),
                  implies={"heads": ["lm"]}),
    ReferenceSpec(model_type="blip", architecture="BlipForImageTextRetrieval", fields=fields(),
                  rules=(vision_rules(), *text_rules("text_encoder.", "text_encoder."),
                         *weight_and_bias("vision_proj", "vision_proj"), *weight_and_bias("text_proj", "text_proj"),
                         *weight_and_bias("itm_head", "itm_head")),
                  implies={"heads": ["itc", "itm"]}),
)

VISION = dict(family="vit", norm=dict(kind="layernorm", eps=1e-5, placement="pre", final=True),
              position=dict(kind="none"), mlp=dict(activation="gelu"), bias=True, embedding=dict(tie=False),
              dropout=0.0, image=dict(channels=3))  # BLIP's patch embedding reads RGB

DEFAULTS = dict(norm=dict(kind="layernorm", eps=1e-12, placement="post", after_embeddings=True, final=False),
                position=dict(kind="learned"), mlp=dict(activation="gelu"), bias=True,
                embedding=dict(tie=True, type_vocab_size=0), vocab_size=30524, max_positions=512, dropout=0.0,
                heads=["itc", "itm", "lm"], vision=VISION)


def preset(layers: int, heads: int, width: int, d_ff: int, size: int, patch: int, vision_layers=None, **more) -> dict:
    return merge(dict(n_layer=layers, attention=dict(n_head=heads), d_model=width, mlp=dict(d_ff=d_ff),
                      vision=dict(n_layer=vision_layers or layers, attention=dict(n_head=heads), d_model=width,
                                  mlp=dict(d_ff=d_ff), image=dict(size=size, patch=patch))), more)


register(Family(
    name="blip",
    year=2022,
    parent="vit",
    paper="Li et al. 2022, BLIP: Bootstrapping Language-Image Pre-training for Unified Vision-Language "
          "Understanding and Generation",
    changes="a ViT image tower and a BERT text tower with cross-attention over the image; image-text contrast, "
            "matching with hard negatives, and captioning by a decoder sharing all but its self-attention",
    defaults=DEFAULTS,
    presets={
        # tiny: sized for the 8x8 digits and their captions; trains in a minute or two on a CPU.
        "tiny": preset(2, 4, 64, 128, 8, 2, projection_dim=64),
        "small": preset(4, 8, 256, 1024, 32, 4, projection_dim=128),
        "base": preset(12, 12, 768, 3072, 384, 16),  # BLIP with ViT-B/16 (section 4.1)
    },
    objective="blip",
    default_tokenizer="wordpiece",
    architecture="encoder-decoder",
    reference=REFERENCES,
    build=ImageTextModel,
    config_class=BlipConfig,
))
