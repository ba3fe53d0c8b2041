"""ViT (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words: Transformers for Image
Recognition at Scale").

Diff from BERT: the tokens are image patches. The image is cut into P x P patches, each linearly
projected (section 3.1, eq. 1), a learnable [class] embedding put first and learned 1-D position
embeddings added (appendix D.4: 2-D ones gave no gain); the encoder is BERT's with the norm before
each sub-layer (pre-LN, eq. 2-3) and a final LayerNorm; the classification head reads the final
[class] vector (eq. 4). Supervised image classification replaces the masked LM. No vocabulary,
no segments, no pooler (the fine-tuned head is one linear layer).
"""

from ..core.config import ImageModelConfig
from ..core.registry import Family, register
from ..interop.reference import Field, LabelIds, LabelNames, ReferenceSpec
from ..interop.rules import Fuse, Rename
from ..models.image_encoder import ImageEncoderModel
from .bert import weight_and_bias


def encoder_rules(prefix: str) -> tuple:
    """The patch embeddings and the encoder under ``prefix`` ("vit." in ViTForImageClassification);
    the image towers built on ViT (CLIP's, BLIP's) reuse the layer names."""
    emb, layer, ours = f"{prefix}embeddings.", f"{prefix}encoder.layer.{{i}}.", "backbone.layers.{i}."
    qkv = lambda p: tuple(f"{layer}attention.attention.{n}.{p}" for n in ("query", "key", "value"))  # noqa: E731
    return (
        Rename("patches.cls", emb + "cls_token"),
        Rename("patches.positions", emb + "position_embeddings"),
        *weight_and_bias("patches.proj", emb + "patch_embeddings.projection"),
        Fuse(ours + "attn.qkv.weight", qkv("weight")),
        Fuse(ours + "attn.qkv.bias", qkv("bias")),
        *weight_and_bias(ours + "attn.out", layer + "attention.output.dense"),
        *weight_and_bias(ours + "attn_norm", layer + "layernorm_before"),  # pre-LN
        *weight_and_bias(ours + "mlp.fc_in", layer + "intermediate.dense"),
        *weight_and_bias(ours + "mlp.fc_out", layer + "output.dense"),
        *weight_and_bias(ours + "mlp_norm", layer + "layernorm_after"),
        *weight_and_bias("backbone.norm", f"{prefix}layernorm"),
    )


FIELDS = (
    Field("n_layer", "num_hidden_layers"),
    Field("attention.n_head", "num_attention_heads"),
    Field("d_model", "hidden_size"),
    Field("mlp.d_ff", "intermediate_size"),
    Field("norm.eps", "layer_norm_eps", default=1e-12),
    Field("mlp.activation", "hidden_act",
          values={"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                  "quick_gelu": "quick_gelu"}),
    Field("init.std", "initializer_range", default=0.02),
    Field("dropout", "attention_probs_dropout_prob", default=0.0),  # one rate: on import the hidden one wins
    Field("dropout", "hidden_dropout_prob", default=0.0),
    Field("attention.qkv_bias", "qkv_bias", default=True),
    Field("image.size", "image_size", default=224),
    Field("image.patch", "patch_size", default=16),
    Field("image.channels", "num_channels", default=3),
    LabelNames("labels", "id2label"),
    LabelIds("labels", "label2id"),
)

def reads_class_token(cfg) -> str | None:
    """The pooling ViTForImageClassification has: its classifier reads [class] (None and "cls" both say so)."""
    return "cls" if cfg.pooling == "mean" else cfg.pooling


REFERENCE = ReferenceSpec(
    model_type="vit", architecture="ViTForImageClassification", fields=FIELDS,
    rules=encoder_rules("vit.") + weight_and_bias("classifier.out", "classifier"),
    implies={"heads": ["classifier"]},
    requires=(("pooling", reads_class_token, "its classifier reads the [CLS] vector, not the mean of the patches"),),
)

VIT = register(Family(
    name="vit",
    year=2020,
    parent="bert",
    paper="Dosovitskiy et al. 2021, An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
    changes="image patches as tokens (a linear projection), a [class] token, learned positions; pre-LN; "
            "a class head on [class] (or, pooling=mean, on the mean of the patches)",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-12, placement="pre", final=True),
                  position=dict(kind="none"), mlp=dict(activation="gelu"), bias=True,
                  embedding=dict(tie=False), dropout=0.0, heads=["classifier"], labels=["0", "1"]),
    presets={
        # tiny: sized for the 8x8 digits (2x2 patches: 16 patches + [class]); trains in seconds on a CPU.
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=64, mlp=dict(d_ff=128),
                     image=dict(size=8, patch=2, channels=1)),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, image=dict(size=32, patch=4)),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768, image=dict(size=224, patch=16)),  # ViT-B/16, 86M
        "large": dict(n_layer=24, attention=dict(n_head=16), d_model=1024, image=dict(size=224, patch=16)),  # ViT-L/16
    },
    objective="image_classification",
    architecture="encoder",
    reference=REFERENCE,
    build=ImageEncoderModel,
    config_class=ImageModelConfig,
))
