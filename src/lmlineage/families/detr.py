"""DETR (Carion et al. 2020, "End-to-End Object Detection with Transformers").

Diff from the Transformer: the source is an image, read by a CNN backbone (a ResNet) whose last
feature map, projected to d_model by a 1x1 convolution, is the encoder's sequence; the decoder reads
no tokens but ``n_queries`` learned object queries, all at once (no causal mask), and each output
is classified (the object classes plus "no object") and given a box by a 3-layer MLP. Positions
(2-D sines for the cells, the queries for the decoder) are added to the queries and keys of every
attention layer, not to the residual stream (appendix A.3). Post-norm blocks, ReLU, a final norm on
the decoder only. Trained with the set loss: Hungarian matching, then cross-entropy (no-object
weighted 0.1), L1 and generalized IoU on the boxes, on every decoder layer
(``objectives/set_prediction.py``).
"""

from dataclasses import dataclass

from ..core.config import DetectorConfig
from ..core.errors import UserError
from ..core.registry import Family, register
from ..interop.reference import Field, LabelIds, LabelNames, ReferenceSpec
from ..interop.rules import Fuse, Prefix, Rename
from ..models.detector import Detector
from .bert import weight_and_bias


@dataclass(frozen=True)
class Constant(Field):
    """A reference key with one value we support (``default``): written on export, checked on import."""

    def read(self, config: dict):
        value = super().read(config)
        if value != self.default:
            raise UserError(f"config.json {self.theirs}={value!r} is not supported (expected {self.default!r})")
        return None

    def write(self, value):
        return self.default


@dataclass(frozen=True)
class LastStage(Field):
    """The backbone's ``out_features``: the feature map of its last stage is the one DETR reads."""

    def read(self, config: dict):
        value, stages = super().read(config), len(config.get("backbone_config", {}).get("hidden_sizes", []))
        if value is not None and list(value) != [f"stage{stages}"]:
            raise UserError(f"config.json backbone_config.out_features={value!r}: only the last stage's map is read",
                            f'give ["stage{stages}"]')
        return None

    def write(self, value):
        return [f"stage{len(value)}"]


@dataclass(frozen=True)
class WholeNumber(Field):
    """A loss weight the reference's config types as an integer."""

    def write(self, value):
        if not float(value).is_integer():
            raise UserError(f"config {self.ours}={value}: transformers' DetrConfig stores {self.theirs} as a whole "
                            "number", "export a model trained with whole-number weights")
        return int(value)


def attention_rules(ours: str, theirs: str, cross: bool) -> tuple:
    qkv = ("q_proj", "k_proj", "v_proj")
    fused = (Rename(f"{ours}.q.{{p}}", f"{theirs}.q_proj.{{p}}"), Fuse(f"{ours}.kv.{{p}}", tuple(
        f"{theirs}.{n}.{{p}}" for n in qkv[1:]))) if cross else \
        (Fuse(f"{ours}.qkv.{{p}}", tuple(f"{theirs}.{n}.{{p}}" for n in qkv)),)
    return tuple(rule for part in ("weight", "bias") for rule in (
        *(_part(r, part) for r in fused), Rename(f"{ours}.out.{part}", f"{theirs}.out_proj.{part}")))


def _part(rule, part: str):
    if isinstance(rule, Fuse):
        return Fuse(rule.ours.replace("{p}", part), tuple(k.replace("{p}", part) for k in rule.theirs))
    return Rename(rule.ours.replace("{p}", part), rule.theirs.replace("{p}", part))


def stack_rules() -> tuple:
    rules = []
    for stack in ("encoder", "decoder"):
        ours, theirs = f"{stack}.layers.{{i}}.", f"model.{stack}.layers.{{i}}."
        rules += [*attention_rules(ours + "attn", theirs + "self_attn", cross=False),
                  *weight_and_bias(ours + "attn_norm", theirs + "self_attn_layer_norm"),
                  *weight_and_bias(ours + "mlp.fc_in", theirs + "fc1"),
                  *weight_and_bias(ours + "mlp.fc_out", theirs + "fc2"),
                  *weight_and_bias(ours + "mlp_norm", theirs + "final_layer_norm")]
    dec, theirs = "decoder.layers.{i}.", "model.decoder.layers.{i}."
    rules += [*attention_rules(dec + "cross_attn", theirs + "encoder_attn", cross=True),
              *weight_and_bias(dec + "cross_norm", theirs + "encoder_attn_layer_norm")]
    return tuple(rules)


BACKBONE = "backbone_config."
FIELDS = (
    Field("d_model", "d_model"),
    Field("n_layer", "encoder_layers"),
    Field("decoder.n_layer", "decoder_layers"),
    Field("attention.n_head", "encoder_attention_heads"),
    Field("attention.n_head", "decoder_attention_heads"),
    Field("mlp.d_ff", "encoder_ffn_dim"),
    Field("mlp.d_ff", "decoder_ffn_dim"),
    Field("mlp.activation", "activation_function", values={"relu": "relu", "gelu": "gelu", "silu": "silu"}),
    Field("dropout", "dropout", default=0.1),
    Field("init.std", "init_std", default=0.02),
    Field("n_queries", "num_queries", default=100),
    Field("image.channels", "num_channels", default=3),
    Field("image.channels", BACKBONE + "num_channels", default=3),
    Field("backbone.embedding_size", BACKBONE + "embedding_size", default=64),
    Field("backbone.hidden_sizes", BACKBONE + "hidden_sizes"),
    Field("backbone.depths", BACKBONE + "depths"),
    Field("backbone.layer_type", BACKBONE + "layer_type", default="bottleneck"),
    Field("backbone.activation", BACKBONE + "hidden_act", default="relu"),
    Field("backbone.downsample_in_first_stage", BACKBONE + "downsample_in_first_stage", default=False),
    Field("backbone.downsample_in_bottleneck", BACKBONE + "downsample_in_bottleneck", default=False),
    LastStage("backbone.hidden_sizes", BACKBONE + "out_features"),
    Constant("family", BACKBONE + "model_type", default="resnet"),
    WholeNumber("loss.class_cost", "class_cost", default=1.0),
    WholeNumber("loss.bbox_cost", "bbox_cost", default=5.0),
    WholeNumber("loss.giou_cost", "giou_cost", default=2.0),
    WholeNumber("loss.bbox_weight", "bbox_loss_coefficient", default=5.0),
    WholeNumber("loss.giou_weight", "giou_loss_coefficient", default=2.0),
    Field("loss.no_object_weight", "eos_coefficient", default=0.1),
    LabelNames("labels", "id2label"),
    LabelIds("labels", "label2id"),
)

# Names as reference checkpoints store them (``transformers`` renames some in memory: o_proj, mlp.fc1,
# backbone.model; its save and load map them back to these).
REFERENCE = ReferenceSpec(
    model_type="detr",
    architecture="DetrForObjectDetection",
    fields=FIELDS,
    rules=(
        Prefix("backbone.", "model.backbone.conv_encoder.model."),
        *weight_and_bias("input_projection", "model.input_projection"),
        Rename("query_position_embeddings.weight", "model.query_position_embeddings.weight"),
        *stack_rules(),
        *weight_and_bias("decoder.norm", "model.decoder.layernorm"),
        *weight_and_bias("head.class_labels_classifier", "class_labels_classifier"),
        *(rule for i in range(3) for rule in weight_and_bias(f"head.bbox_predictor.layers.{i}",
                                                             f"bbox_predictor.layers.{i}")),
    ),
    # The ResNet written here (no timm, nothing downloaded); sine positions; no dilated last stage.
    # The reference's auxiliary_loss re-feeds each normalized layer output to the next layer, which
    # the paper's decoder does not: exported off, the forward pass is the paper's.
    fixed={"use_timm_backbone": False, "use_pretrained_backbone": False, "position_embedding_type": "sine",
           "dilation": False, "auxiliary_loss": False, "is_encoder_decoder": True},
)

DETR = register(Family(
    name="detr",
    year=2020,
    parent="transformer",
    paper="Carion et al. 2020, End-to-End Object Detection with Transformers",
    changes="a CNN backbone's feature map as the source, learned object queries decoded in parallel, 2-D sine "
            "positions added to queries and keys; class and box heads; Hungarian matching and the set loss",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-5, placement="post", final=True), position=dict(kind="none"),
                  mlp=dict(activation="relu"), bias=True, embedding=dict(tie=False), dropout=0.0,
                  labels=["object"]),
    presets={
        # tiny: sized for the generated scenes (32x32, up to 3 shapes, read as they are): a one-stage
        # basic ResNet of stride 4 (an 8x8 map: 64 cells), 2+2 layers of 64, 10 queries; trains in
        # minutes on a CPU.
        "tiny": dict(n_layer=2, attention=dict(n_head=4), d_model=64, mlp=dict(d_ff=128), n_queries=10,
                     image=dict(size=32, channels=3),
                     backbone=dict(embedding_size=16, hidden_sizes=[32], depths=[2], layer_type="basic")),
        "small": dict(n_layer=3, attention=dict(n_head=4), d_model=128, mlp=dict(d_ff=512), n_queries=20,
                      image=dict(size=128, channels=3),
                      backbone=dict(embedding_size=32, hidden_sizes=[64, 128, 256], depths=[2, 2, 2],
                                    layer_type="basic")),
        # Section 4 / the released DETR-R50: ResNet-50, 6+6 layers of 256, 8 heads, FFN 2048, 100 queries.
        "base": dict(n_layer=6, attention=dict(n_head=8), d_model=256, mlp=dict(d_ff=2048), n_queries=100,
                     dropout=0.1, image=dict(size=800, channels=3)),
    },
    objective="detection",
    architecture="encoder-decoder",
    reference=REFERENCE,
    build=Detector,
    config_class=DetectorConfig,
))
