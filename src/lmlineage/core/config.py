"""The model spec: which shared blocks a family uses, with which sizes and options.

A Transformer family fills in one ``ModelConfig``, whose parts are typed specs (attention,
positions, MLP, experts, norms, embeddings, initialisation, decoder); a classic family declares
a small config of its own (``classic_config``). Loading from JSON checks names, types and
shapes at every level and answers bad input with a ``UserError`` naming the key path (never
``eval``: a config is data). Checkpoints written in the flat layout of before these specs are
read through :func:`from_flat`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .errors import UserError

# Allowed values, by key path.
CHOICES = {
    "norm.kind": ("layernorm", "rmsnorm"),
    # pre: norm at each sub-block's input; post: after each residual sum (the Transformer, BERT);
    # parallel: attention and MLP read the same input, each with its norm (GPT-J uses one: _shared_norm)
    "norm.placement": ("pre", "post", "parallel", "parallel_shared_norm"),
    # sinusoidal_halves: all sines, then all cosines (CTRL, tensor2tensor); learned_2d: GLM's two tables;
    # relative: T5's buckets; disentangled: DeBERTa's content/position scores; xl_relative: Transformer-XL's
    # sinusoids of i - j with the global biases u and v (_segments: XLNet's, with relative segments)
    "position.kind": ("learned", "sinusoidal", "sinusoidal_halves", "learned_2d", "rotary", "alibi", "relative",
                      "disentangled", "xl_relative", "xl_relative_segments", "none"),
    "position.rope_layout": ("half", "interleaved"),
    "mlp.kind": ("mlp", "glu"),
    "mlp.activation": ("gelu", "gelu_tanh", "relu", "silu", "quick_gelu"),
    "init.kind": ("normal", "fan_in"),
}
DISENTANGLED_TERMS = ("c2p", "p2c")  # DeBERTa's content-to-position and position-to-content scores
# What sentence-level task heads read (``ModelConfig.pooling``): the [CLS] vector (pooled where the
# model has a pooler) or the mean of the real tokens.
POOLINGS = ("cls", "mean")


def require_positive(spec, where: str, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(spec, name)
        if (value is None and not optional) or (value is not None and value < 1):
            raise UserError(f"config {where}{name} must be a positive integer{' or null' if optional else ''}, "
                            f"got {value}")


def require_range(spec, where: str, name: str, low: float, low_open: bool, high: float = float("inf")) -> None:
    value = getattr(spec, name)
    if not ((low < value) if low_open else (low <= value)) or not value < high:
        bounds = f"({low}, {high})" if low_open else f"[{low}, {high})"
        raise UserError(f"config {where}{name} must lie in {bounds}, got {value}")


def require_choice(spec, where: str, name: str) -> None:
    value, allowed = getattr(spec, name), CHOICES[f"{where}{name}"]
    if value not in allowed:
        raise UserError(f"config {where}{name}={value!r} is not one of {', '.join(allowed)}")


class Spec:
    """A typed part of a config, built from plain data by :meth:`from_dict`."""

    def validate(self, where: str) -> None:
        """Check values; ``where`` is the key path's prefix, e.g. ``"attention."``."""

    @classmethod
    def from_dict(cls, data, where: str = ""):
        """Build from plain data, naming any unknown key or wrongly typed value by its key path."""
        if not isinstance(data, dict):
            raise UserError(f"config {where.rstrip('.') or 'data'} must be a JSON object, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise UserError(f"unknown config key(s): {', '.join(where + str(k) for k in unknown)}",
                            f"known keys{' of ' + where.rstrip('.') if where else ''}: {', '.join(names)}")
        values = {}
        for key, value in data.items():
            part = _spec_class(hints[key])
            if part is not None and isinstance(value, dict):
                value = part.from_dict(value, f"{where}{key}.")
            elif not _type_ok(value, hints[key]):
                raise UserError(f"config {where}{key}={value!r} has the wrong type (expected {_type_name(hints[key])})")
            values[key] = value
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes):
        """A copy with ``changes``; a nested dict changes only the keys it names
        (``cfg.replace(attention={"n_head": 2})`` keeps the other attention fields)."""
        return type(self).from_dict(merge(self.to_dict(), changes))


def put(nested: dict, path: str, value) -> None:
    """Sets the dotted key ``path`` (``attention.n_head``) of a nested dict, making the levels it lacks."""
    *parents, leaf = path.split(".")
    for part in parents:
        nested = nested.setdefault(part, {})
    nested[leaf] = value


def merge(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` laid over it, dicts merged key by key at every level."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class AttentionSpec(Spec):
    n_head: int = 12
    n_kv_head: int | None = None  # None: one K/V head per query head (plain multi-head)
    head_dim: int | None = None  # None: d_model // n_head
    qkv_bias: bool | None = None  # None: as the config's ``bias`` (GLM-4 and Qwen bias only q/k/v)
    scale: float | None = None  # None: scores scaled by 1/sqrt(head_dim); T5: 1.0 (folded into its init)
    # Per-layer patterns, cycled over the layers: "dense" (causal) or "local" (causal, banded to
    # ``window`` keys); None: all dense. GPT-3: ["dense", "local"].
    pattern: list[str] | None = None
    window: int = 256

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    def dim_head(self, d_model: int) -> int:
        return self.head_dim or d_model // self.n_head

    def validate(self, where: str) -> None:
        require_positive(self, where, "n_head", "window")
        require_positive(self, where, "n_kv_head", "head_dim", optional=True)
        if self.n_head % self.kv_heads:
            raise UserError(f"config {where}n_head={self.n_head} is not a multiple of {where}n_kv_head={self.kv_heads}")
        if self.scale is not None and not 0 < self.scale < float("inf"):
            raise UserError(f"config {where}scale must be a positive number or null, got {self.scale}")
        unknown = sorted(set(self.pattern or ()) - {"dense", "local"})
        if unknown or self.pattern == []:
            raise UserError(f"config {where}pattern={self.pattern!r}",
                            'list "dense" and "local" (cycled over the layers), or null')


@dataclass
class DisentangledSpec(Spec):
    """DeBERTa's relative scores (He et al. 2021, section 3.1; v2/v3's released options)."""

    buckets: int = -1  # log-spaced position buckets; < 1: one per distance
    max_distance: int = -1  # < 1: the longest input (max_positions)
    terms: list[str] = field(default_factory=lambda: list(DISENTANGLED_TERMS))
    share_projections: bool = False  # the table read by the layer's own query/key projections (v3)
    norm_table: bool = False  # a LayerNorm on the table

    def validate(self, where: str) -> None:
        unknown = sorted(set(self.terms) - set(DISENTANGLED_TERMS))
        if unknown:
            raise UserError(f"config {where}terms: unknown attention term(s) {', '.join(unknown)}",
                            f"choose from {', '.join(DISENTANGLED_TERMS)}")


@dataclass
class PositionSpec(Spec):
    kind: str = "learned"
    rope_theta: float = 10000.0
    rotary_fraction: float = 1.0  # share of each head's channels that rotate (GPT-NeoX: 0.25)
    rope_layout: str = "half"  # half (NeoX / HF LLaMA) or interleaved (RoFormer, GPT-J, GGUF)
    buckets: int = 32  # T5 (Raffel et al. 2020, section 2.1): buckets of key-query offsets
    max_distance: int = 128  # offsets this far and beyond share the last bucket
    disentangled: DisentangledSpec = field(default_factory=DisentangledSpec)  # read by DeBERTa's scores alone

    def validate(self, where: str) -> None:
        require_choice(self, where, "kind")
        require_choice(self, where, "rope_layout")
        require_range(self, where, "rope_theta", 0, True)
        if not 0 < self.rotary_fraction <= 1:
            raise UserError(f"config {where}rotary_fraction must lie in (0, 1], got {self.rotary_fraction}")
        require_positive(self, where, "buckets", "max_distance")
        self.disentangled.validate(f"{where}disentangled.")


@dataclass
class MLPSpec(Spec):
    kind: str = "mlp"
    d_ff: int | None = None  # None: 4 * d_model
    activation: str = "gelu_tanh"

    def ff_dim(self, d_model: int) -> int:
        return self.d_ff or 4 * d_model

    def validate(self, where: str) -> None:
        require_choice(self, where, "kind")
        require_choice(self, where, "activation")
        require_positive(self, where, "d_ff", optional=True)


@dataclass
class MoESpec(Spec):
    """Mixture of experts (layers/moe.py): n_experts > 0 makes layer i's MLP an MoE layer when
    i % every == 1 % every (every layer for 1; layers 1, 3, 5, ... for 2, as Switch and GLaM)."""

    n_experts: int = 0
    every: int = 1
    top_k: int = 1  # experts per token: 1 (Switch), 2 (GShard, GLaM)
    capacity_factor: float = 1.25  # training: ceil(factor * tokens * top_k / n_experts) tokens per expert and sequence
    expert_capacity: int | None = None  # a fixed per-sequence capacity instead, in training and evaluation
    aux_coef: float = 0.01  # load-balancing loss weight (Switch, eq. 4: alpha)
    z_coef: float = 0.0  # router z-loss weight (ST-MoE, eq. 5; 1e-3 there)
    jitter: float = 0.0  # training: router input times U(1 - j, 1 + j) noise (Switch's released code: 0.01)

    def validate(self, where: str) -> None:
        require_positive(self, where, "every", "top_k")
        require_positive(self, where, "expert_capacity", optional=True)
        if self.n_experts < 0 or (self.n_experts and self.top_k > self.n_experts):
            raise UserError(f"config {where}n_experts={self.n_experts}, {where}top_k={self.top_k}",
                            "n_experts >= 0 (0: no experts), and top_k at most n_experts")
        require_range(self, where, "capacity_factor", 0, True)
        require_range(self, where, "aux_coef", 0, False)
        require_range(self, where, "z_coef", 0, False)
        require_range(self, where, "jitter", 0, False, 1)


@dataclass
class NormSpec(Spec):
    kind: str = "layernorm"
    eps: float = 1e-5
    placement: str = "pre"
    final: bool = True  # a norm after the last block
    after_embeddings: bool = False  # a norm right after the embeddings (BERT, BLOOM)

    def validate(self, where: str) -> None:
        require_choice(self, where, "kind")
        require_choice(self, where, "placement")
        require_range(self, where, "eps", 0, True)


@dataclass
class EmbeddingSpec(Spec):
    type_vocab_size: int = 0  # segment (token type) embeddings: BERT's sentence A/B; 0: none
    dim: int | None = None  # factorized embeddings narrower than d_model, projected up (ALBERT); None: d_model
    scale: bool = False  # token embeddings times sqrt(d_model) (Vaswani et al. 2017, section 3.4; CTRL)
    tie: bool = True  # the output layer is the token embedding
    head_bias: bool = False  # a bias on the output projection (CTRL)
    rescale_head: bool = False  # decoder output times d_model ** -0.5 before a tied head (T5 1.0)

    def validate(self, where: str) -> None:
        require_positive(self, where, "dim", optional=True)
        if self.type_vocab_size < 0:
            raise UserError(f"config {where}type_vocab_size must be >= 0, got {self.type_vocab_size}")


@dataclass
class InitSpec(Spec):
    # normal: every weight N(0, std) (GPT-2, BERT); fan_in: Mesh TensorFlow's, as T5 trains
    # (encoder-decoders): each weight N(0, 1 / fan_in), token embeddings N(0, 1)
    kind: str = "normal"
    std: float = 0.02

    def validate(self, where: str) -> None:
        require_choice(self, where, "kind")
        require_range(self, where, "std", 0, False)


@dataclass
class DecoderSpec(Spec):
    """Encoder-decoder models (models/encoder_decoder.py): the decoder's depth and the token ids it reads."""

    n_layer: int | None = None  # None: as many decoder blocks as encoder blocks
    start_id: int = 0  # the decoder's first input token (T5: pad; BART: </s>)
    pad_id: int | None = None  # recorded by the pair task, written on export
    eos_id: int | None = None

    def validate(self, where: str) -> None:
        require_positive(self, where, "n_layer", optional=True)


@dataclass
class FamilyConfig(Spec):
    """What every family's config has: the family, the vocabulary, and the longest input (the learned
    position table's rows, and the context every family trains and generates in: rotary, ALiBi and
    recurrent models too, so it sits here rather than in a position spec)."""

    family: str = "gpt2"
    vocab_size: int = 50257
    max_positions: int = 1024

    # Old flat key -> its place in this config ("extra.x": a key of the old free dict; None: a
    # filler the family never read); see from_flat.
    FLAT: ClassVar[dict[str, str | None]] = {}

    def __post_init__(self):
        self.validate("")

    def validate(self, where: str = "") -> None:
        require_positive(self, where, "vocab_size", "max_positions")

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def classic_flat(**places: str) -> dict[str, str | None]:
    """A classic family's ``FLAT``: its own keys' places; every other key of the flat layout, which
    its checkpoints carried as filler (n_head=1, ...), dropped."""
    return {**{key: None for key in ModelConfig.FLAT}, "family": "family", "vocab_size": "vocab_size",
            "max_positions": "max_positions", **places}


@dataclass
class ModelConfig(FamilyConfig):
    d_model: int = 768
    n_layer: int = 12
    dropout: float = 0.0
    bias: bool = True
    layer_groups: int | None = None  # cross-layer sharing: n_layer blocks drawn from this many weight sets (ALBERT)
    heads: list[str] | None = None  # heads on an encoder backbone (pooler, mlm, nsp); None: decoders' LM head
    labels: list[str] | None = None  # a task head's label names (classifier, tagger, choice)
    pooling: str | None = None  # what sentence-level heads read: "cls" (None: the default) or "mean"
    attention: AttentionSpec = field(default_factory=AttentionSpec)
    position: PositionSpec = field(default_factory=PositionSpec)
    mlp: MLPSpec = field(default_factory=MLPSpec)
    moe: MoESpec = field(default_factory=MoESpec)
    norm: NormSpec = field(default_factory=NormSpec)
    embedding: EmbeddingSpec = field(default_factory=EmbeddingSpec)
    init: InitSpec = field(default_factory=InitSpec)
    decoder: DecoderSpec = field(default_factory=DecoderSpec)

    FLAT: ClassVar[dict[str, str | None]] = {
        **{k: k for k in ("family", "vocab_size", "d_model", "n_layer", "max_positions", "dropout", "bias",
                          "layer_groups", "heads")},
        "n_head": "attention.n_head", "n_kv_head": "attention.n_kv_head", "head_dim": "attention.head_dim",
        "qkv_bias": "attention.qkv_bias", "attn_scale": "attention.scale",
        "attention_pattern": "attention.pattern", "attention_window": "attention.window",
        "position": "position.kind", "rope_theta": "position.rope_theta",
        "rotary_fraction": "position.rotary_fraction", "rope_layout": "position.rope_layout",
        "relative_buckets": "position.buckets", "relative_max_distance": "position.max_distance",
        "mlp": "mlp.kind", "d_ff": "mlp.d_ff", "activation": "mlp.activation",
        "n_experts": "moe.n_experts", "moe_every": "moe.every", "moe_top_k": "moe.top_k",
        "capacity_factor": "moe.capacity_factor", "expert_capacity": "moe.expert_capacity",
        "router_aux_coef": "moe.aux_coef", "router_z_coef": "moe.z_coef", "router_jitter": "moe.jitter",
        "norm": "norm.kind", "norm_eps": "norm.eps", "residual": "norm.placement", "final_norm": "norm.final",
        "embed_norm": "norm.after_embeddings",
        "type_vocab_size": "embedding.type_vocab_size", "embed_dim": "embedding.dim",
        "embed_scale": "embedding.scale", "tie_embeddings": "embedding.tie", "lm_head_bias": "embedding.head_bias",
        "rescale_head": "embedding.rescale_head",
        "init": "init.kind", "init_std": "init.std",
        "n_decoder_layer": "decoder.n_layer", "decoder_start_id": "decoder.start_id",
        "extra.pad_id": "decoder.pad_id", "extra.eos_id": "decoder.eos_id",
        "extra.labels": "labels", "extra.pooling": "pooling",
        **{f"extra.{k}": f"position.disentangled.{k}"
           for k in ("buckets", "max_distance", "terms", "share_projections", "norm_table")},
    }

    def __post_init__(self):
        for name in ("heads", "labels"):
            if getattr(self, name) is not None:
                setattr(self, name, list(getattr(self, name)))  # a copy: never shared with a preset's list
        super().__post_init__()

    def validate(self, where: str = "") -> None:
        super().validate(where)
        require_positive(self, where, "n_layer", "d_model")
        require_positive(self, where, "layer_groups", optional=True)
        require_range(self, where, "dropout", 0, False, 1)
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise UserError(f"config pooling={self.pooling!r} is not supported",
                            f"choose one of: {', '.join(POOLINGS)}")
        for name in ("attention", "position", "mlp", "moe", "norm", "embedding", "init", "decoder"):
            getattr(self, name).validate(f"{name}.")
        if self.attention.head_dim is None and self.d_model % self.attention.n_head:
            raise UserError(
                f"config d_model={self.d_model} is not divisible by attention.n_head={self.attention.n_head}",
                "choose a width that is a multiple of the number of heads",
            )


@dataclass
class ImageSpec(Spec):
    """An image model's input (ViT, Dosovitskiy et al. 2021, section 3.1): square images of ``size``
    pixels a side and ``channels`` channels, cut into ``patch`` x ``patch`` patches. ``stem``: the
    channels of each 3x3 convolution (GELU after each, the side kept) run before the patches are
    cut, a convolutional stem in the spirit of the paper's hybrid (section 3.1: patches cut from a
    CNN's feature map; Xiao et al. 2021, "Early Convolutions Help Transformers See Better"); empty,
    ViT's linear patch embedding alone."""

    size: int = 224
    patch: int = 16
    channels: int = 3
    patch_bias: bool = True  # a bias on the patch projection (ViT); CLIP's has none
    stem: list[int] = field(default_factory=list)

    @property
    def n_patches(self) -> int:
        return (self.size // self.patch) ** 2

    def validate(self, where: str) -> None:
        require_positive(self, where, "size", "patch", "channels")
        if any(not isinstance(c, int) or c < 1 for c in self.stem):
            raise UserError(f"config {where}stem={self.stem} must list positive channel counts",
                            "give e.g. [32, 32], or [] for no convolutional stem")
        if self.size % self.patch:
            raise UserError(f"config {where}size={self.size} is not a multiple of {where}patch={self.patch}",
                            "choose an image size the patches tile")


@dataclass
class ImageModelConfig(ModelConfig):
    """A Transformer over image patches (ViT and the image towers built on it): the model config
    plus the image it reads. It has no vocabulary; ``vocab_size`` stays at its filler 1."""

    vocab_size: int = 1
    image: ImageSpec = field(default_factory=ImageSpec)

    def validate(self, where: str = "") -> None:
        super().validate(where)
        self.image.validate(f"{where}image.")


@dataclass
class ImageTextConfig(ModelConfig):
    """A model that reads images beside text: its top-level fields are the text side's (a text
    tower, or the decoder LM), ``vision`` is the image tower's (a ViT's). The families add their
    own: CLIP the joint space and temperature, PaLM-E the image placeholder."""

    vision: ImageModelConfig = field(default_factory=lambda: ImageModelConfig(family="vit", vocab_size=1))

    def validate(self, where: str = "") -> None:
        super().validate(where)
        self.vision.validate(f"{where}vision.")


@dataclass
class BackboneSpec(Spec):
    """A ResNet (He et al. 2016) feature extractor, named as ``transformers``' ResNetConfig: a 7x7
    stride-2 convolution of ``embedding_size`` channels and a max pool (stride 4 together), then one
    stage per entry of ``hidden_sizes`` (``depths`` residual layers each; every stage after the first
    halves the side). ``layer_type``: "basic" (two 3x3 convolutions) or "bottleneck" (1x1, 3x3, 1x1
    with a quarter of the channels; ResNet-50)."""

    embedding_size: int = 64
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 512, 1024, 2048])
    depths: list[int] = field(default_factory=lambda: [3, 4, 6, 3])
    layer_type: str = "bottleneck"
    activation: str = "relu"
    downsample_in_first_stage: bool = False
    downsample_in_bottleneck: bool = False  # the stride on the first 1x1 instead of the 3x3

    @property
    def stride(self) -> int:
        """Pixels a side per cell of the last feature map."""
        return 4 * 2 ** (len(self.hidden_sizes) - 1 + self.downsample_in_first_stage)

    def validate(self, where: str) -> None:
        require_positive(self, where, "embedding_size")
        if not self.hidden_sizes or len(self.hidden_sizes) != len(self.depths) or \
                min(self.hidden_sizes + self.depths) < 1:
            raise UserError(f"config {where}hidden_sizes={self.hidden_sizes} and {where}depths={self.depths}",
                            "give one positive width and depth per stage")
        if self.layer_type not in ("basic", "bottleneck"):
            raise UserError(f"config {where}layer_type={self.layer_type!r} is not one of basic, bottleneck")
        if self.activation not in CHOICES["mlp.activation"]:
            raise UserError(f"config {where}activation={self.activation!r} is not one of "
                            f"{', '.join(CHOICES['mlp.activation'])}")


@dataclass
class SetLossSpec(Spec):
    """DETR's set prediction loss (Carion et al. 2020, section 3.1 and appendix A.4): the matching
    cost and the loss weigh the class, the L1 box distance and the generalized IoU; the no-object
    class's cross-entropy is down-weighted by ``no_object_weight``; ``auxiliary``: the same loss on
    every decoder layer's predictions (section 3.2)."""

    class_cost: float = 1.0
    bbox_cost: float = 5.0
    giou_cost: float = 2.0
    bbox_weight: float = 5.0
    giou_weight: float = 2.0
    no_object_weight: float = 0.1
    auxiliary: bool = True

    def validate(self, where: str) -> None:
        for name in ("class_cost", "bbox_cost", "giou_cost", "bbox_weight", "giou_weight"):
            require_range(self, where, name, 0, False)
        require_range(self, where, "no_object_weight", 0, True)


@dataclass
class DetectorConfig(ImageModelConfig):
    """An object detector (DETR, Carion et al. 2020): a CNN ``backbone`` whose last feature map the
    encoder reads cell by cell, ``n_queries`` learned object queries the decoder turns into boxes,
    and the set loss. ``image.patch`` stays 1: the backbone, not patches, cuts the image; ``labels``
    are the object classes (a no-object class is added)."""

    image: ImageSpec = field(default_factory=lambda: ImageSpec(size=64, patch=1))
    backbone: BackboneSpec = field(default_factory=BackboneSpec)
    n_queries: int = 100
    loss: SetLossSpec = field(default_factory=SetLossSpec)

    def validate(self, where: str = "") -> None:
        super().validate(where)
        require_positive(self, where, "n_queries")
        self.backbone.validate(f"{where}backbone.")
        self.loss.validate(f"{where}loss.")
        if self.d_model % 2:
            raise UserError(f"config d_model={self.d_model} is odd", "the 2-D sine positions give half of d_model to "
                            "each axis: choose an even width")


def _spec_class(annotation) -> type | None:
    """The Spec class an annotation names (``X`` or ``X | None``), else None."""
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, Spec):
            return arg
    return None


def _type_name(annotation) -> str:
    return str(annotation).replace("typing.", "") if typing.get_args(annotation) else annotation.__name__


def _type_ok(value, annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is bool:
        return isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if isinstance(annotation, type) and issubclass(annotation, Spec):
        return isinstance(value, annotation)
    return isinstance(value, origin or annotation)


def is_flat(data: dict, config_class: type) -> bool:
    """Whether ``data`` is in the flat layout of before the specs: it names an old key that is no
    field of ``config_class``."""
    own = {f.name for f in dataclasses.fields(config_class)}
    return any(key not in own for key in data if key in ModelConfig.FLAT or key == "extra")


def from_flat(data: dict, config_class: type) -> dict:
    """A flat config (the layout checkpoints were written in before the specs) in the nested layout
    of ``config_class``, whose ``FLAT`` names each old key's place (None: dropped, a Transformer
    field a classic family never read). Keys the flat layout never had are refused."""
    places = config_class.FLAT
    old = {k: v for k, v in data.items() if k != "extra"}
    extra = data.get("extra", {})
    if not isinstance(extra, dict):
        raise UserError(f"config extra must be a JSON object, got {type(extra).__name__}")
    old.update({f"extra.{k}": v for k, v in extra.items()})
    unknown = sorted(k for k in old if k not in places)
    if unknown:
        raise UserError(f"unknown config key(s): {', '.join(unknown)}",
                        f"known keys of the flat layout: {', '.join(places)}")
    nested: dict = {}
    for key, value in old.items():
        place = places.get(key)
        if place is None or value is None:  # a filler, or a "derive it" None the new field's default says too
            continue
        put(nested, place, value)
    return nested


def config_from_dict(data, config_class: type = ModelConfig) -> FamilyConfig:
    """A config of ``config_class`` from plain data, nested or (an old checkpoint's) flat."""
    if isinstance(data, dict) and is_flat(data, config_class):
        data = from_flat(data, config_class)
    return config_class.from_dict(data)


def read_config(path: Path) -> dict:
    """A config.json's data (a UserError for a missing or unreadable file)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist", "is this a lmlineage checkpoint directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e.__class__.__name__}: {e})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: config must be a JSON object, got {type(data).__name__}")
    return data


@dataclass
class PromptSpec(Spec):
    """SAM's prompt encoder and mask decoder (Kirillov et al. 2023, section 3, appendix A): ``dim``
    is the width of the prompt tokens, of the image embedding the encoder's neck makes and of the
    two-way transformer; ``masks`` outputs for an ambiguous prompt, plus one for an unambiguous one."""

    dim: int = 256
    n_layer: int = 2  # two-way transformer blocks
    n_head: int = 8
    d_ff: int = 2048
    downsample: int = 2  # the cross-attentions work at dim / downsample wide
    masks: int = 3
    iou_depth: int = 3  # layers of the IoU prediction head
    iou_hidden: int = 256
    mask_channels: int = 16  # channels of the mask prompt's downscaling convolutions
    eps: float = 1e-6

    def validate(self, where: str) -> None:
        require_positive(self, where, "dim", "n_layer", "n_head", "d_ff", "downsample", "masks", "iou_hidden",
                         "mask_channels")
        require_range(self, where, "eps", 0, True)
        if self.iou_depth < 2:
            raise UserError(f"config {where}iou_depth must be >= 2 (an input and an output layer), got {self.iou_depth}")
        if self.dim % 8 or (self.dim // self.downsample) % self.n_head or self.dim % self.n_head:
            raise UserError(f"config {where}dim={self.dim} must be a multiple of 8, and it and dim / downsample "
                            f"multiples of n_head={self.n_head}")
        if self.mask_channels % 4:
            raise UserError(f"config {where}mask_channels must be a multiple of 4, got {self.mask_channels}")


@dataclass
class SegmenterConfig(ImageModelConfig):
    """A promptable segmenter (SAM): a windowed ViT image encoder whose ``global_layers`` attend
    across the whole image and the others within ``window`` x ``window`` patches (ViTDet), and
    the prompt encoder and mask decoder of ``prompt``."""

    window: int = 14
    global_layers: list[int] = field(default_factory=lambda: [2, 5, 8, 11])
    prompt: PromptSpec = field(default_factory=PromptSpec)

    def validate(self, where: str = "") -> None:
        super().validate(where)
        require_positive(self, where, "window")
        self.prompt.validate(f"{where}prompt.")
        outside = [i for i in self.global_layers if not 0 <= i < self.n_layer]
        if outside:
            raise UserError(f"config {where}global_layers {outside} lie outside the {self.n_layer} layers")
