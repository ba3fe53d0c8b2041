"""DeBERTa's disentangled attention (He et al. 2021, "DeBERTa: Decoding-enhanced BERT with
Disentangled Attention", section 3.1), as a ``score_mod`` hook of the shared attention.

Each token is a content vector plus, for every pair (i, j), a relative position
delta(i, j) = bucket(i - j). The score adds to content-to-content (the plain q_i . k_j) the
content-to-position term q_i . Kr[delta(i, j)] and the position-to-content term k_j . Qr[delta(i, j)],
where Kr, Qr are projections of one table of relative-position embeddings shared by every layer
(equation 4). With three terms the scores are scaled by 1 / sqrt(3 d) instead of 1 / sqrt(d)
(section 3.1: "we found it important to scale ... by 1/sqrt(3d) for the stability of model training").

DeBERTa-v2/v3 (the model card and released code): distances beyond ``buckets / 2`` are folded
into log-spaced buckets up to ``max_distance``; the table may be LayerNorm-ed; and the position
projections may be the attention's own query/key projections (``share_projections``, v3).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.config import DISENTANGLED_TERMS


def log_buckets(relative: torch.Tensor, buckets: int, max_distance: int) -> torch.Tensor:
    """Relative distances -> bucket ids in (-buckets/2 ... buckets/2): exact within half the
    bucket count, log-spaced beyond, reaching the outermost bucket at ``max_distance``."""
    mid = buckets // 2
    sign = torch.sign(relative)
    near = (relative < mid) & (relative > -mid)
    distance = torch.where(near, torch.full_like(relative, mid - 1), relative.abs()).float()
    far = torch.ceil(torch.log(distance / mid) / math.log((max_distance - 1) / mid) * (mid - 1)) + mid
    return torch.where(distance <= mid, relative.float(), far * sign).long()


class DisentangledScores(nn.Module):
    """The relative-position table (shared by all layers, optionally normalised) and each
    layer's position projections; ``__call__`` is the attention's ``score_mod`` hook."""

    def __init__(self, d_model: int, n_head: int, head_dim: int, n_layer: int, buckets: int, max_distance: int,
                 terms=DISENTANGLED_TERMS, share_projections: bool = False, norm: bool = False, eps: float = 1e-7,
                 dropout: float = 0.0):
        super().__init__()
        self.n_head, self.head_dim = n_head, head_dim
        self.buckets, self.max_distance = buckets, max_distance
        self.span = buckets if buckets > 0 else max_distance  # distances -span .. span-1 have rows
        self.terms = tuple(terms)
        self.share_projections = share_projections
        self.rel_embeddings = nn.Embedding(2 * self.span, d_model)
        self.norm = nn.LayerNorm(d_model, eps=eps) if norm else None
        self.drop = nn.Dropout(dropout)
        width = n_head * head_dim
        own = not share_projections
        self.pos_key = nn.ModuleList(nn.Linear(d_model, width) for _ in range(n_layer)) \
            if own and "c2p" in self.terms else None
        self.pos_query = nn.ModuleList(nn.Linear(d_model, width) for _ in range(n_layer)) \
            if own and "p2c" in self.terms else None
        # 1 / sqrt(d * (1 + number of position terms)): each term has about unit variance.
        self.factor = 1 + len(self.terms)

    def table(self) -> torch.Tensor:
        rel = self.rel_embeddings.weight
        return self.drop(self.norm(rel) if self.norm is not None else rel)

    def relative(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        """(B or 1, Tq, Tk) row indices into the table: bucket(i - j) shifted to be >= 0."""
        delta = q_positions[..., :, None] - k_positions[..., None, :]
        if self.buckets > 0 and self.max_distance > 0:
            delta = log_buckets(delta, self.buckets, self.max_distance)
        return (delta + self.span).clamp(0, 2 * self.span - 1)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], self.n_head, self.head_dim).transpose(0, 1)  # (H, 2*span, head_dim)

    def forward(self, q, k, positions, key_positions, attention):
        """The ``score_mod`` hook: (queries for the content term, additive position scores)."""
        b, h, t, d = q.shape
        rel = self.table()
        if self.share_projections:  # v3: the layer's own query/key projections read the table
            pos_q, pos_k, _ = attention.qkv(rel).split([h * d, h * d, attention.qkv.out_features - 2 * h * d], -1)
        else:
            pos_k = self.pos_key[attention.layer](rel) if self.pos_key is not None else None
            pos_q = self.pos_query[attention.layer](rel) if self.pos_query is not None else None
        if positions is None:
            positions = torch.arange(t, device=q.device)[None, :]
        if key_positions is None:
            key_positions = torch.arange(k.shape[-2], device=q.device)[None, :]
        index = self.relative(positions, key_positions)[:, None]  # (B or 1, 1, Tq, Tk)
        scale = 1.0 / math.sqrt(d * self.factor)
        scores = None
        if "c2p" in self.terms:  # query content i . key position delta(i, j)
            c2p = q @ self._heads(pos_k).transpose(-1, -2)  # (B, H, Tq, 2*span)
            scores = torch.take_along_dim(c2p, index, dim=-1)
        if "p2c" in self.terms:  # key content j . query position delta(i, j)
            p2c = k @ self._heads(pos_q).transpose(-1, -2)  # (B, H, Tk, 2*span)
            p2c = torch.take_along_dim(p2c, index.transpose(-1, -2), dim=-1).transpose(-1, -2)
            scores = p2c if scores is None else scores + p2c
        # The content term q . k gets the same 1/sqrt(factor) through the queries.
        return q / math.sqrt(self.factor), None if scores is None else scores * scale
