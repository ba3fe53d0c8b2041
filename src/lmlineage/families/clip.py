"""CLIP (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision").

Diff from ViT: no class head and no labels. A ViT image tower (section 2.4: "an additional layer
normalization to the combined patch and position embeddings before the transformer", patch
projection without bias, the [class] output normed) beside a causal text Transformer (GPT-2-like,
63M parameters in the paper: 12 layers, 512 wide, 8 heads, a 49,152-token lower-cased BPE, at most
76 tokens between [SOS] and [EOS]) summarised at its [EOS] token; both projected linearly into one
embedding space. Trained on (image, text) pairs with the symmetric contrastive loss (figure 3) and
a learned temperature, started at 0.07 and clipped so the logits scale by at most 100 (section
2.5). Zero-shot classification embeds one prompt per class ("a photo of a {label}.", section
3.1.4) and picks the nearest.

Our config: the top-level fields are the text tower's; ``vision`` is the image tower's
(an ``ImageModelConfig``), whose layers the reference rules expand over on their own
(``interop.rules.Within``).
"""

from dataclasses import dataclass

from ..core.config import ImageTextConfig
from ..core.errors import UserError
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Ignore, Rename, Reshape, Within
from ..models.image_text import ImageTextDualEncoder
from .bert import weight_and_bias
from .vit import FIELDS as VIT_FIELDS


@dataclass
class ClipConfig(ImageTextConfig):
    projection_dim: int = 512
    logit_scale_init: float = 2.6592  # log(1 / 0.07), section 2.5
    # The text tower's special tokens: it is summarised at the first eos_id (see models.image_text.end_of_text).
    eos_id: int = 49407
    bos_id: int = 49406
    pad_id: int = 1

    def validate(self, where: str = "") -> None:
        super().validate(where)
        if self.projection_dim < 1:
            raise UserError(f"config projection_dim must be a positive integer, got {self.projection_dim}")
        for name in ("eos_id", "bos_id", "pad_id"):
            if not 0 <= getattr(self, name) < self.vocab_size:
                raise UserError(f"config {name}={getattr(self, name)} lies outside the vocabulary of {self.vocab_size}")


def layer_rules(ours: str, theirs: str) -> tuple:
    """One CLIP encoder layer (either tower): q/k/v fused into ours, pre-LN norms 1 and 2."""
    qkv = lambda p: tuple(f"{theirs}self_attn.{n}_proj.{p}" for n in ("q", "k", "v"))  # noqa: E731
    return (
        Fuse(ours + "attn.qkv.weight", qkv("weight")),
        Fuse(ours + "attn.qkv.bias", qkv("bias")),
        *weight_and_bias(ours + "attn.out", theirs + "self_attn.out_proj"),
        *weight_and_bias(ours + "attn_norm", theirs + "layer_norm1"),
        *weight_and_bias(ours + "mlp.fc_in", theirs + "mlp.fc1"),
        *weight_and_bias(ours + "mlp.fc_out", theirs + "mlp.fc2"),
        *weight_and_bias(ours + "mlp_norm", theirs + "layer_norm2"),
    )


TEXT, VISION = "text_model.", "vision_model."
RULES = (
    Rename("text.embed_tokens.weight", TEXT + "embeddings.token_embedding.weight"),
    Rename("text.embed_positions.weight", TEXT + "embeddings.position_embedding.weight"),
    Ignore(TEXT + "embeddings.position_ids"),  # a buffer older checkpoints carry
    *layer_rules("text.layers.{i}.", TEXT + "encoder.layers.{i}."),
    *weight_and_bias("text.norm", TEXT + "final_layer_norm"),
    Within("vision", (
        Reshape("patches.cls", VISION + "embeddings.class_embedding", their_lead=0, our_lead=2),  # (d,) vs (1, 1, d)
        Rename("patches.proj.weight", VISION + "embeddings.patch_embedding.weight"),
        Reshape("patches.positions", VISION + "embeddings.position_embedding.weight", their_lead=0, our_lead=1),
        Ignore(VISION + "embeddings.position_ids"),
        *weight_and_bias("backbone.embed_norm", VISION + "pre_layrnorm"),
        *layer_rules("backbone.layers.{i}.", VISION + "encoder.layers.{i}."),
    )),
    *weight_and_bias("vision_norm", VISION + "post_layernorm"),
    Rename("visual_projection.weight", "visual_projection.weight"),
    Rename("text_projection.weight", "text_projection.weight"),
    Rename("logit_scale", "logit_scale"),
)

ACTIVATIONS = next(f.values for f in VIT_FIELDS if f.ours == "mlp.activation")
FIELDS = (
    Field("vocab_size", "text_config.vocab_size"),
    Field("max_positions", "text_config.max_position_embeddings", default=77),
    Field("d_model", "text_config.hidden_size"),
    Field("n_layer", "text_config.num_hidden_layers"),
    Field("attention.n_head", "text_config.num_attention_heads"),
    Field("mlp.d_ff", "text_config.intermediate_size"),
    Field("mlp.activation", "text_config.hidden_act", values=ACTIVATIONS, default="quick_gelu"),
    Field("norm.eps", "text_config.layer_norm_eps", default=1e-5),
    Field("dropout", "text_config.attention_dropout", default=0.0),
    Field("init.std", "text_config.initializer_range", default=0.02),
    Field("eos_id", "text_config.eos_token_id", default=2),
    Field("bos_id", "text_config.bos_token_id", default=1),
    Field("pad_id", "text_config.pad_token_id", default=1),
    Field("vision.d_model", "vision_config.hidden_size"),
    Field("vision.n_layer", "vision_config.num_hidden_layers"),
    Field("vision.attention.n_head", "vision_config.num_attention_heads"),
    Field("vision.mlp.d_ff", "vision_config.intermediate_size"),
    Field("vision.mlp.activation", "vision_config.hidden_act", values=ACTIVATIONS, default="quick_gelu"),
    Field("vision.norm.eps", "vision_config.layer_norm_eps", default=1e-5),
    Field("vision.dropout", "vision_config.attention_dropout", default=0.0),
    Field("vision.init.std", "vision_config.initializer_range", default=0.02),
    Field("vision.image.size", "vision_config.image_size", default=224),
    Field("vision.image.patch", "vision_config.patch_size", default=32),
    Field("vision.image.channels", "vision_config.num_channels", default=3),
    Field("projection_dim", "projection_dim", default=512),
    Field("logit_scale_init", "logit_scale_init_value", default=2.6592),
)

# The image tower's part of every preset: CLIP's ViT (pre-norm on the patches, no final norm, no patch bias).
TOWER = dict(family="vit", position=dict(kind="none"), norm=dict(kind="layernorm", eps=1e-5, placement="pre",
             final=False, after_embeddings=True), mlp=dict(activation="quick_gelu"), bias=True, dropout=0.0,
             image=dict(patch_bias=False))

CLIP = register(Family(
    name="clip",
    year=2021,
    parent="vit",
    paper="Radford et al. 2021, Learning Transferable Visual Models From Natural Language Supervision",
    changes="a ViT image tower beside a causal text tower read at [EOS], both projected into one space; "
            "symmetric contrastive loss with a learned temperature; zero-shot classification from prompts",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-5, placement="pre", final=True), position=dict(kind="learned"),
                  mlp=dict(activation="quick_gelu"), bias=True, embedding=dict(tie=False), dropout=0.0,
                  vocab_size=49408, max_positions=77, vision=TOWER),
    presets={
        # tiny: sized for the 8x8 digits and their short captions; trains in seconds on a CPU.
        "tiny": dict(n_layer=2, attention=dict(n_head=4), d_model=64, mlp=dict(d_ff=128), max_positions=32,
                     projection_dim=64, vision=dict(n_layer=4, attention=dict(n_head=4), d_model=64,
                                                    mlp=dict(d_ff=128), image=dict(size=8, patch=2, channels=3))),
        "small": dict(n_layer=6, attention=dict(n_head=8), d_model=256, projection_dim=256,
                      vision=dict(n_layer=6, attention=dict(n_head=6), d_model=384, image=dict(size=32, patch=4))),
        # ViT-B/32 and ViT-L/14 (table 20): the text tower 12 x 512 (8 heads) and 12 x 768 (12 heads)
        "base": dict(n_layer=12, attention=dict(n_head=8), d_model=512, projection_dim=512,
                     vision=dict(n_layer=12, attention=dict(n_head=12), d_model=768, image=dict(size=224, patch=32))),
        "large": dict(n_layer=12, attention=dict(n_head=12), d_model=768, projection_dim=768,
                      vision=dict(n_layer=24, attention=dict(n_head=16), d_model=1024, image=dict(size=224, patch=14))),
    },
    objective="image_text_contrastive",
    default_tokenizer="bpe",
    architecture="dual-encoder",
    reference=ReferenceSpec(model_type="clip", architecture="CLIPModel", fields=FIELDS, rules=RULES),
    build=ImageTextDualEncoder,
    config_class=ClipConfig,
))
