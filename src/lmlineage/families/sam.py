"""SAM (Kirillov et al. 2023, "Segment Anything").

Diff from ViT: the task is promptable segmentation, so the class head goes and two light parts
come (section 3, figure 4): a prompt encoder (points with labels, boxes; random Fourier positions)
and a two-way mask decoder with several mask outputs for an ambiguous prompt and an IoU head that
ranks them. The image encoder is ViTDet's plain ViT (appendix A): absolute positions on the patch
grid, no [class] token, attention within 14 x 14 windows with a few global blocks, decomposed
relative positions in every block, and a convolutional neck down to the decoder's 256 channels.
"""

from dataclasses import dataclass

from ..core.config import SegmenterConfig
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Ignore, Rename, Repeat
from ..models.segmenter import SegmenterModel
from .bert import weight_and_bias

VISION, PROMPT, DECODER = "vision_config.", "prompt_encoder_config.", "mask_decoder_config."


@dataclass(frozen=True)
class Halved(Field):
    """Written as half our value, never read: the Fourier features are half the prompt width."""

    def read(self, config: dict):
        return None

    def write(self, value):
        return value // 2


def attention(ours: str, theirs: str) -> tuple:
    return tuple(r for a, b in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("out", "out_proj"))
                 for r in weight_and_bias(f"{ours}.{a}", f"{theirs}.{b}"))


def deep_mlp(ours: str, theirs: str, hidden: int | None = None) -> tuple:
    """A ``DeepMLP``: ``hidden`` layers between the first and the last (None: the IoU head's, by the config)."""
    middle = (Repeat("{h}", lambda cfg: cfg.prompt.iou_depth - 2,
                     weight_and_bias(f"{ours}.hidden.{{h}}", f"{theirs}.layers.{{h}}")),) if hidden is None else \
        tuple(r for n in range(hidden) for r in weight_and_bias(f"{ours}.hidden.{n}", f"{theirs}.layers.{n}"))
    return (*weight_and_bias(f"{ours}.proj_in", f"{theirs}.proj_in"),
            *weight_and_bias(f"{ours}.proj_out", f"{theirs}.proj_out"), *middle)


_layer, _ours = "vision_encoder.layers.{i}.", "encoder.layers.{i}."
_block, _our_block = "mask_decoder.transformer.layers.{d}.", "decoder.transformer.layers.{d}."
RULES = (
    # image encoder
    *weight_and_bias("encoder.patches", "vision_encoder.patch_embed.projection"),
    Rename("encoder.positions", "vision_encoder.pos_embed"),
    *weight_and_bias(_ours + "attn_norm", _layer + "layer_norm1"),
    *weight_and_bias(_ours + "attn.qkv", _layer + "attn.qkv"),  # q, k, v stacked as ours
    *weight_and_bias(_ours + "attn.out", _layer + "attn.proj"),
    Rename(_ours + "rel_pos.height", _layer + "attn.rel_pos_h"),
    Rename(_ours + "rel_pos.width", _layer + "attn.rel_pos_w"),
    *weight_and_bias(_ours + "mlp_norm", _layer + "layer_norm2"),
    *weight_and_bias(_ours + "mlp.fc_in", _layer + "mlp.lin1"),
    *weight_and_bias(_ours + "mlp.fc_out", _layer + "mlp.lin2"),
    Rename("encoder.neck.conv1.weight", "vision_encoder.neck.conv1.weight"),
    Rename("encoder.neck.conv2.weight", "vision_encoder.neck.conv2.weight"),
    *weight_and_bias("encoder.neck.norm1", "vision_encoder.neck.layer_norm1"),
    *weight_and_bias("encoder.neck.norm2", "vision_encoder.neck.layer_norm2"),
    # the Fourier encoding, stored twice by the reference (tied): read from the first
    Rename("fourier.gaussian", "shared_image_embedding.positional_embedding"),
    Ignore("prompt_encoder.shared_embedding.positional_embedding"),
    # prompt encoder
    Fuse("prompts.kinds", tuple(f"prompt_encoder.point_embed.{n}.weight" for n in range(4))),
    Rename("prompts.not_a_point", "prompt_encoder.not_a_point_embed.weight"),
    Rename("prompts.no_mask", "prompt_encoder.no_mask_embed.weight"),
    *(r for n in ("conv1", "conv2", "conv3") for r in weight_and_bias(f"prompts.mask_in.{n}", f"prompt_encoder.mask_embed.{n}")),
    *weight_and_bias("prompts.mask_in.norm1", "prompt_encoder.mask_embed.layer_norm1"),
    *weight_and_bias("prompts.mask_in.norm2", "prompt_encoder.mask_embed.layer_norm2"),
    # mask decoder
    Rename("decoder.iou_token", "mask_decoder.iou_token.weight"),
    Rename("decoder.mask_tokens", "mask_decoder.mask_tokens.weight"),
    Repeat("{d}", lambda cfg: cfg.prompt.n_layer, (
        *attention(_our_block + "self_attn", _block + "self_attn"),
        *attention(_our_block + "token_to_image", _block + "cross_attn_token_to_image"),
        *attention(_our_block + "image_to_token", _block + "cross_attn_image_to_token"),
        *weight_and_bias(_our_block + "mlp.fc_in", _block + "mlp.lin1"),
        *weight_and_bias(_our_block + "mlp.fc_out", _block + "mlp.lin2"),
        *(r for n in range(1, 5) for r in weight_and_bias(f"{_our_block}norm{n}", f"{_block}layer_norm{n}")),
    )),
    *attention("decoder.transformer.final_attn", "mask_decoder.transformer.final_attn_token_to_image"),
    *weight_and_bias("decoder.transformer.final_norm", "mask_decoder.transformer.layer_norm_final_attn"),
    *weight_and_bias("decoder.upscale1", "mask_decoder.upscale_conv1"),
    *weight_and_bias("decoder.upscale_norm", "mask_decoder.upscale_layer_norm"),
    *weight_and_bias("decoder.upscale2", "mask_decoder.upscale_conv2"),
    Repeat("{m}", lambda cfg: cfg.prompt.masks + 1,
           deep_mlp("decoder.hypernetworks.{m}", "mask_decoder.output_hypernetworks_mlps.{m}", hidden=1)),
    *deep_mlp("decoder.iou_head", "mask_decoder.iou_prediction_head"),
)

FIELDS = (
    Field("n_layer", VISION + "num_hidden_layers"),
    Field("attention.n_head", VISION + "num_attention_heads"),
    Field("d_model", VISION + "hidden_size"),
    Field("mlp.d_ff", VISION + "mlp_dim"),
    Field("norm.eps", VISION + "layer_norm_eps", default=1e-6),
    Field("mlp.activation", VISION + "hidden_act",
          values={"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}),
    Field("attention.qkv_bias", VISION + "qkv_bias", default=True),
    Field("dropout", VISION + "attention_dropout", default=0.0),
    Field("image.size", VISION + "image_size", default=1024),
    Field("image.patch", VISION + "patch_size", default=16),
    Field("image.channels", VISION + "num_channels", default=3),
    Field("window", VISION + "window_size", default=14),
    Field("global_layers", VISION + "global_attn_indexes"),
    # one width for the neck's output, the prompt tokens and the decoder (their shapes must agree)
    Field("prompt.dim", VISION + "output_channels", default=256),
    Halved("prompt.dim", VISION + "num_pos_feats"),
    Field("image.size", PROMPT + "image_size", default=1024),
    Field("image.patch", PROMPT + "patch_size", default=16),
    Field("prompt.dim", PROMPT + "hidden_size", default=256),
    Field("prompt.mask_channels", PROMPT + "mask_input_channels", default=16),
    Field("prompt.eps", PROMPT + "layer_norm_eps", default=1e-6),
    Field("prompt.dim", DECODER + "hidden_size", default=256),
    Field("prompt.n_layer", DECODER + "num_hidden_layers", default=2),
    Field("prompt.n_head", DECODER + "num_attention_heads", default=8),
    Field("prompt.d_ff", DECODER + "mlp_dim", default=2048),
    Field("prompt.downsample", DECODER + "attention_downsample_rate", default=2),
    Field("prompt.masks", DECODER + "num_multimask_outputs", default=3),
    Field("prompt.iou_depth", DECODER + "iou_head_depth", default=3),
    Field("prompt.iou_hidden", DECODER + "iou_head_hidden_dim", default=256),
    Field("prompt.eps", DECODER + "layer_norm_eps", default=1e-6),
)

REFERENCE = ReferenceSpec(model_type="sam", architecture="SamModel", fields=FIELDS, rules=RULES)

SAM = register(Family(
    name="sam",
    year=2023,
    parent="vit",
    paper="Kirillov et al. 2023, Segment Anything",
    changes="promptable segmentation: windowed ViT encoder with a neck, a prompt encoder (points, boxes; Fourier "
            "positions), a two-way mask decoder with 3 masks and an IoU head",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-6, placement="pre", final=False),
                  position=dict(kind="none"), mlp=dict(activation="gelu"), bias=True, embedding=dict(tie=False),
                  dropout=0.0),
    presets={
        # tiny: sized for the generated 32 x 32 scenes (4 x 4 patches: an 8 x 8 grid, 4 x 4 windows);
        # trains in minutes on one CPU thread
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=64, mlp=dict(d_ff=128), window=4,
                     global_layers=[1, 3], image=dict(size=32, patch=4, channels=3),
                     prompt=dict(dim=64, n_head=4, d_ff=128, iou_hidden=64)),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768, mlp=dict(d_ff=3072),
                     image=dict(size=1024, patch=16), global_layers=[2, 5, 8, 11]),  # SAM ViT-B, 94M
        "large": dict(n_layer=24, attention=dict(n_head=16), d_model=1024, mlp=dict(d_ff=4096),
                      image=dict(size=1024, patch=16), global_layers=[5, 11, 17, 23]),  # ViT-L, 312M
        "huge": dict(n_layer=32, attention=dict(n_head=16), d_model=1280, mlp=dict(d_ff=5120),
                     image=dict(size=1024, patch=16), global_layers=[7, 15, 23, 31]),  # ViT-H, 641M
    },
    objective="segmentation",
    architecture="encoder",
    reference=REFERENCE,
    build=SegmenterModel,
    config_class=SegmenterConfig,
))
