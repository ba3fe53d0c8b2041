"""Position schemes, and the one registry a stack chooses them from (``POSITIONS``).

Absolute schemes add a table to the token embeddings (learned, sinusoidal, GLM's 2-D); relative
ones act inside attention through its hooks: rotary (``qk_transform``), ALiBi and T5's buckets
(``score_bias``), DeBERTa's disentangled scores and Transformer-XL's relative sinusoids (``score_mod``). Each is built for either
direction: ``causal`` says whether the stack's queries see only earlier keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..core.config import ModelConfig
from .alibi import ALiBi
from .disentangled import DisentangledScores
from .relative_attention import RelativeSinusoidScores
from .relative_position import RelativePositionBias
from .rotary import Rotary


class LearnedPositions(nn.Embedding):
    """A learned vector per position (GPT-1/2, BERT)."""

    def __init__(self, max_positions: int, dim: int):
        super().__init__(max_positions, dim)


class SinusoidalPositions(nn.Module):
    """Fixed sines and cosines of geometric wavelengths (Vaswani et al. 2017, section 3.5):
    PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)).

    ``layout="halves"`` puts all the sines first, then all the cosines, as tensor2tensor and CTRL
    (Keskar et al. 2019) do; its angles are computed as CTRL's released code computes them
    (10000 raised to the power in float32), so its checkpoints reproduce to the last bit."""

    def __init__(self, max_positions: int, dim: int, layout: str = "interleaved"):
        super().__init__()
        position = torch.arange(max_positions, dtype=torch.float32)[:, None]
        if layout == "halves":
            angle = position * (1 / torch.pow(10000, torch.arange(0, dim, 2, dtype=torch.float32) / dim))
            table = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
        else:
            inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
            table = torch.zeros(max_positions, dim)
            table[:, 0::2] = torch.sin(position * inv_freq)
            table[:, 1::2] = torch.cos(position * inv_freq)[:, : dim // 2]
        self.register_buffer("table", table, persistent=False)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return self.table[positions]


class TwoDimensionalPositions(nn.Module):
    """GLM's 2-D positions (Du et al. 2021, section 2.2.2): a learned table for the position in
    the corrupted text (Part B tokens take their [MASK]'s position) plus a learned table for the
    position inside a span (0 throughout Part A, 1, 2, ... in each Part B span).

    ``positions`` is (B, T) — then every intra-span position is 0 — or (B, 2, T)."""

    def __init__(self, max_positions: int, dim: int):
        super().__init__()
        self.position = nn.Embedding(max_positions, dim)
        self.block_position = nn.Embedding(max_positions, dim)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        if positions.dim() == 2:
            return self.position(positions) + self.block_position.weight[0]
        return self.position(positions[:, 0]) + self.block_position(positions[:, 1])


HOOKS = ("qk_transform", "score_bias", "score_mod")  # the attention hooks a scheme may fill


@dataclass(frozen=True)
class PositionScheme:
    """``table(cfg, width)``: a module mapping position ids to vectors added to the token
    embeddings; ``hooks(cfg, causal)``: the attention hooks, by name (one of ``HOOKS``)."""

    table: Callable[[ModelConfig, int], nn.Module] | None = None
    hooks: Callable[[ModelConfig, bool], dict[str, nn.Module]] | None = None


def _disentangled(cfg: ModelConfig, causal: bool) -> dict[str, nn.Module]:
    """DeBERTa's options: ``cfg.position.disentangled``."""
    x = cfg.position.disentangled
    return {"score_mod": DisentangledScores(
        cfg.d_model, cfg.attention.n_head, cfg.attention.dim_head(cfg.d_model), cfg.n_layer, buckets=x.buckets,
        # released code: a max distance < 1 means the longest input
        max_distance=x.max_distance if x.max_distance >= 1 else cfg.max_positions,
        terms=x.terms, share_projections=x.share_projections, norm=x.norm_table, eps=cfg.norm.eps,
        dropout=cfg.dropout,
    )}


def _xl(cfg: ModelConfig, segments: bool) -> RelativeSinusoidScores:
    return RelativeSinusoidScores(cfg.d_model, cfg.attention.n_head, cfg.attention.dim_head(cfg.d_model), cfg.n_layer,
                                  segments=segments, std=cfg.init.std)


POSITIONS: dict[str, PositionScheme] = {
    "learned": PositionScheme(table=lambda cfg, width: LearnedPositions(cfg.max_positions, width)),
    "sinusoidal": PositionScheme(table=lambda cfg, width: SinusoidalPositions(cfg.max_positions, width)),
    "sinusoidal_halves": PositionScheme(
        table=lambda cfg, width: SinusoidalPositions(cfg.max_positions, width, "halves")),
    "learned_2d": PositionScheme(table=lambda cfg, width: TwoDimensionalPositions(cfg.max_positions, width)),
    "rotary": PositionScheme(hooks=lambda cfg, causal: {
        "qk_transform": Rotary(cfg.attention.dim_head(cfg.d_model), cfg.position.rope_theta,
                               cfg.position.rotary_fraction, cfg.position.rope_layout)}),
    "alibi": PositionScheme(
        hooks=lambda cfg, causal: {"score_bias": ALiBi(cfg.attention.n_head, bidirectional=not causal)}),
    # T5: one bucket table per stack; an encoder's buckets look both ways, a decoder's back only
    "relative": PositionScheme(hooks=lambda cfg, causal: {"score_bias": RelativePositionBias(
        cfg.attention.n_head, bidirectional=not causal, buckets=cfg.position.buckets,
        max_distance=cfg.position.max_distance)}),
    "disentangled": PositionScheme(hooks=_disentangled),
    # Transformer-XL: sinusoids of i - j, projected by each layer, with the global biases u and v;
    # XLNet adds its relative segment term (the hook then reads (B, 2, T) places: position, segment)
    "xl_relative": PositionScheme(hooks=lambda cfg, causal: {"score_mod": _xl(cfg, segments=False)}),
    "xl_relative_segments": PositionScheme(hooks=lambda cfg, causal: {"score_mod": _xl(cfg, segments=True)}),
    "none": PositionScheme(),
}
