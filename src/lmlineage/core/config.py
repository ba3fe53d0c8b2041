"""The model spec: which shared blocks a family uses, with which sizes and options.

One dataclass describes every Transformer family; a family file fills it in through
presets. Loading from JSON checks names, types and shapes and answers bad input with
a ``UserError`` (never ``eval``: a config is data).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError

CHOICES = {
    "norm": ("layernorm", "rmsnorm"),
    # sinusoidal_halves: all sines, then all cosines (CTRL, tensor2tensor); learned_2d: GLM's two tables;
    # relative: T5's buckets; disentangled: DeBERTa's content/position scores (layers/positions.py)
    "position": ("learned", "sinusoidal", "sinusoidal_halves", "learned_2d", "rotary", "alibi", "relative",
                 "disentangled", "none"),
    "activation": ("gelu", "gelu_tanh", "relu", "silu"),
    "mlp": ("mlp", "glu"),
    "residual": ("pre", "post", "parallel", "parallel_shared_norm"),
    "rope_layout": ("half", "interleaved"),
    "init": ("normal", "fan_in"),
}


@dataclass
class ModelConfig:
    family: str = "gpt2"
    vocab_size: int = 50257
    n_layer: int = 12
    n_head: int = 12
    n_kv_head: int | None = None  # None: one K/V head per query head (plain multi-head)
    d_model: int = 768
    d_ff: int | None = None  # None: 4 * d_model
    head_dim: int | None = None  # None: d_model // n_head
    max_positions: int = 1024
    norm: str = "layernorm"
    norm_eps: float = 1e-5
    position: str = "learned"
    activation: str = "gelu_tanh"
    mlp: str = "mlp"
    residual: str = "pre"
    bias: bool = True
    qkv_bias: bool | None = None  # None: as ``bias`` (GLM-4 and Qwen bias only the q/k/v projection)
    tie_embeddings: bool = True
    final_norm: bool = True
    embed_norm: bool = False  # LayerNorm right after the embeddings (BERT, BLOOM)
    dropout: float = 0.0
    init_std: float = 0.02
    # normal: every weight N(0, init_std) (GPT-2, BERT); fan_in: Mesh TensorFlow's, as T5 trains
    # (encoder-decoders): each weight N(0, 1 / fan_in), token embeddings N(0, 1)
    init: str = "normal"
    rope_theta: float = 10000.0
    rotary_fraction: float = 1.0  # share of each head's channels that rotate (GPT-NeoX: 0.25)
    rope_layout: str = "half"  # half (NeoX / HF LLaMA) or interleaved (RoFormer, GPT-J, GGUF)
    type_vocab_size: int = 0  # segment (token type) embeddings: BERT's sentence A/B; 0: none
    heads: list[str] | None = None  # heads on an encoder backbone (pooler, mlm, nsp); None: decoders' LM head
    embed_scale: bool = False  # token embeddings times sqrt(d_model) (Vaswani et al. 2017, section 3.4; CTRL)
    lm_head_bias: bool = False  # a bias on the output projection (CTRL)
    # Per-layer attention patterns, cycled over the layers: "dense" (causal) or "local" (causal,
    # banded to ``attention_window`` keys); None: all dense. GPT-3: ["dense", "local"].
    attention_pattern: list[str] | None = None
    attention_window: int = 256
    # Mixture of experts (layers/moe.py): n_experts > 0 makes layer i's MLP an MoE layer when
    # i % moe_every == 1 % moe_every (every layer for 1; layers 1, 3, 5, ... for 2, as Switch and GLaM).
    n_experts: int = 0
    moe_every: int = 1
    moe_top_k: int = 1  # experts per token: 1 (Switch), 2 (GShard, GLaM)
    capacity_factor: float = 1.25  # training: ceil(factor * tokens * top_k / n_experts) tokens per expert and sequence
    expert_capacity: int | None = None  # a fixed per-sequence capacity instead, in training and evaluation
    router_aux_coef: float = 0.01  # load-balancing loss weight (Switch, eq. 4: alpha)
    router_z_coef: float = 0.0  # router z-loss weight (ST-MoE, eq. 5; 1e-3 there)
    router_jitter: float = 0.0  # training: router input times U(1 - j, 1 + j) noise (Switch's released code: 0.01)
    embed_dim: int | None = None  # factorized embeddings narrower than d_model, projected up (ALBERT); None: d_model
    layer_groups: int | None = None  # cross-layer sharing: n_layer blocks drawn from this many weight sets (ALBERT)
    # Encoder-decoder models (models/encoder_decoder.py); relative: T5's bucketed position bias.
    n_decoder_layer: int | None = None  # None: as many decoder blocks as encoder blocks (n_layer)
    decoder_start_id: int = 0  # the decoder's first input token (T5: pad; BART: </s>)
    relative_buckets: int = 32  # T5 (Raffel et al. 2020, section 2.1): buckets of key-query offsets
    relative_max_distance: int = 128  # offsets this far and beyond share the last bucket
    attn_scale: float | None = None  # None: scores scaled by 1/sqrt(head_dim); T5: 1.0 (folded into its init)
    rescale_head: bool = False  # decoder output times d_model ** -0.5 before a tied head (T5 1.0)
    extra: dict = field(default_factory=dict)  # family-specific options (rotary base, ...)

    def __post_init__(self):
        if self.heads is not None:
            self.heads = list(self.heads)  # a copy: never shared with a family's or a spec's list
        self.validate()

    # Derived sizes, so no family stores redundant numbers.
    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def dim_head(self) -> int:
        return self.head_dim or self.d_model // self.n_head

    @property
    def ff_dim(self) -> int:
        return self.d_ff or 4 * self.d_model

    def validate(self) -> None:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise UserError(f"config {name}={value!r} is not one of {', '.join(allowed)}")
        for name in ("vocab_size", "n_layer", "n_head", "d_model", "max_positions"):
            if getattr(self, name) < 1:
                raise UserError(f"config {name} must be a positive integer, got {getattr(self, name)}")
        for name in ("n_kv_head", "d_ff", "head_dim"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UserError(f"config {name} must be a positive integer or null, got {getattr(self, name)}")
        for name in ("norm_eps", "rope_theta"):
            if not 0 < getattr(self, name) < float("inf"):
                raise UserError(f"config {name} must be a positive number, got {getattr(self, name)}")
        if not 0 <= self.init_std < float("inf"):
            raise UserError(f"config init_std must be a number >= 0, got {self.init_std}")
        if not 0 < self.rotary_fraction <= 1:
            raise UserError(f"config rotary_fraction must lie in (0, 1], got {self.rotary_fraction}")
        if self.head_dim is None and self.d_model % self.n_head:
            raise UserError(
                f"config d_model={self.d_model} is not divisible by n_head={self.n_head}",
                "choose a width that is a multiple of the number of heads",
            )
        if self.n_head % self.kv_heads:
            raise UserError(f"config n_head={self.n_head} is not a multiple of n_kv_head={self.kv_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"config dropout must lie in [0, 1), got {self.dropout}")
        for name in ("n_decoder_layer", "relative_buckets", "relative_max_distance"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UserError(f"config {name} must be a positive integer, got {getattr(self, name)}")
        if self.attn_scale is not None and not 0 < self.attn_scale < float("inf"):
            raise UserError(f"config attn_scale must be a positive number or null, got {self.attn_scale}")
        unknown = sorted(set(self.attention_pattern or ()) - {"dense", "local"})
        if unknown or self.attention_pattern == []:
            raise UserError(f"config attention_pattern={self.attention_pattern!r}",
                            'list "dense" and "local" (cycled over the layers), or null')
        for name in ("attention_window", "moe_every", "moe_top_k"):
            if getattr(self, name) < 1:
                raise UserError(f"config {name} must be a positive integer, got {getattr(self, name)}")
        if self.n_experts < 0 or (self.n_experts and self.moe_top_k > self.n_experts):
            raise UserError(f"config n_experts={self.n_experts}, moe_top_k={self.moe_top_k}",
                            "n_experts >= 0 (0: no experts), and moe_top_k at most n_experts")
        if not 0 < self.capacity_factor < float("inf") or (self.expert_capacity is not None and self.expert_capacity < 1):
            raise UserError("config capacity_factor must be > 0 and expert_capacity a positive integer or null")
        for name in ("embed_dim", "layer_groups"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UserError(f"config {name} must be a positive integer or null, got {getattr(self, name)}")
        for name in ("router_aux_coef", "router_z_coef"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise UserError(f"config {name} must be a number >= 0, got {getattr(self, name)}")
        if not 0 <= self.router_jitter < 1:
            raise UserError(f"config router_jitter must lie in [0, 1), got {self.router_jitter}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "ModelConfig":
        return from_dict({**self.to_dict(), **changes})

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


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
    return isinstance(value, origin or annotation)


def from_dict(data: dict) -> ModelConfig:
    """Build a config from plain data, naming any unknown key or wrongly typed value."""
    if not isinstance(data, dict):
        raise UserError(f"config must be a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(ModelConfig)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise UserError(f"unknown config key(s): {', '.join(unknown)}", f"known keys: {', '.join(hints)}")
    for key, value in data.items():
        if not _type_ok(value, hints[key]):
            raise UserError(f"config {key}={value!r} has the wrong type (expected {hints[key]})")
    return ModelConfig(**data)


def load_config(path: Path) -> ModelConfig:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist", "is this a lmlineage checkpoint directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e.__class__.__name__}: {e})") from None
    try:
        return from_dict(data)
    except UserError as e:  # name the file the bad config came from
        raise UserError(f"{path}: {e.problem}", e.fix) from None
