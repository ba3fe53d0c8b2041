"""Multi-head attention, written once for every family.

Grouped-query and multi-query attention are the same module with fewer K/V heads.
Variants plug into three hooks instead of subclassing:

- ``qk_transform(q, k, positions) -> (q, k)``: rotary embeddings and friends;
- ``score_bias(q_positions, k_positions) -> (B, H, q_len or 1, k_len) additive bias``: ALiBi, T5 buckets;
- ``score_mod(q, k, positions, key_positions, attention) -> (q, bias)``: content-dependent scores
  (DeBERTa's c2p/p2c): the queries for the content term (rescaled, shifted) and an additive bias
  in score units; ``attention`` gives the hook the layer index and projections.

A call may also give ``qk_offset`` (B, T, dim): added to the input of the query and key projections
only, not the values' (DETR's positions, Carion et al. 2020, appendix A.3: "added to the queries and
keys at every attention layer").

The backend is PyTorch's ``scaled_dot_product_attention`` (flash / memory-efficient kernels)
or an explicit eager path, which must agree; tests hold them to each other. A caller that wants
the attention probabilities passes a list as ``attentions``: that call takes the eager path and
appends its (B, H, T, S) weights (the page's heatmaps, as ``output_attentions`` elsewhere).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


class Attention(nn.Module):
    backend = "sdpa"  # or "eager"; switched model-wide by ``set_attention_backend``

    def __init__(
        self,
        dim: int,
        n_head: int,
        kv_heads: int,
        head_dim: int,
        bias: bool = True,
        dropout: float = 0.0,
        layer: int = 0,
        qk_transform: Callable | None = None,
        score_bias: Callable | None = None,
        qkv_bias: bool | None = None,
        score_mod: Callable | None = None,
        scale: float | None = None,
    ):
        """``scale``: the score multiplier; None: 1/sqrt(head_dim) (Vaswani et al. 2017, eq. 1)."""
        super().__init__()
        self.n_head, self.kv_heads, self.head_dim, self.layer = n_head, kv_heads, head_dim, layer
        # One fused projection: a single matmul for q, k and v.
        self.qkv = nn.Linear(dim, (n_head + 2 * kv_heads) * head_dim, bias=bias if qkv_bias is None else qkv_bias)
        self.out = nn.Linear(n_head * head_dim, dim, bias=bias)
        self.dropout = dropout
        self.qk_transform = qk_transform
        self.score_bias = score_bias
        self.score_mod = score_mod
        self.scale = 1.0 / math.sqrt(head_dim) if scale is None else scale

    def forward(self, x, mask=None, is_causal=False, positions=None, key_positions=None, cache=None, attentions=None,
                qk_offset=None):
        b, t, _ = x.shape
        sizes = [self.n_head * self.head_dim, self.kv_heads * self.head_dim, self.kv_heads * self.head_dim]
        if qk_offset is None:
            q, k, v = self.qkv(x).split(sizes, dim=-1)
        else:  # the fused projection's q and k rows read x + offset, its v rows x
            q, k = projected(self.qkv, x + qk_offset, 0, sizes[0] + sizes[1]).split(sizes[:2], dim=-1)
            v = projected(self.qkv, x, sizes[0] + sizes[1], sum(sizes))
        q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.qk_transform is not None:
            q, k = self.qk_transform(q, k, positions)
        if cache is not None:
            k, v = cache.update(self.layer, k, v)
        bias = self.score_bias(positions, key_positions).to(q.dtype) if self.score_bias is not None else None
        if self.score_mod is not None:
            q, extra = self.score_mod(q, k, positions, key_positions, self)
            bias = extra if bias is None else bias + extra
        if bias is not None:
            if mask is None and is_causal:
                mask = torch.ones(t, k.shape[-2], dtype=torch.bool, device=x.device).tril(k.shape[-2] - t)
            mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
            is_causal = False
        y = self._attend(q, k, v, mask, is_causal, attentions)
        return self.out(y.transpose(1, 2).reshape(b, t, self.n_head * self.head_dim))

    def _attend(self, q, k, v, mask, is_causal, attentions: list | None = None):
        """``attentions``: a list to append this call's attention probabilities to (eager path)."""
        dropout = self.dropout if self.training else 0.0
        if self.backend == "sdpa" and attentions is None:
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=is_causal, dropout_p=dropout,
                enable_gqa=self.kv_heads != self.n_head, scale=self.scale,
            )
        if self.kv_heads != self.n_head:
            repeat = self.n_head // self.kv_heads
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        scores = (q @ k.transpose(-2, -1)) * self.scale
        if is_causal:
            t, s = scores.shape[-2:]
            mask = torch.ones(t, s, dtype=torch.bool, device=q.device).tril(s - t)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
        weights = F.dropout(scores.softmax(dim=-1), dropout, self.training)
        if attentions is not None:
            attentions.append(weights)
        return weights @ v


def projected(linear: nn.Linear, x, start: int, end: int):
    """Rows ``start:end`` of a fused projection applied to ``x``: part of a fused q/k/v that reads
    another input than the rest."""
    bias = None if linear.bias is None else linear.bias[start:end]
    return F.linear(x, linear.weight[start:end], bias)


def set_attention_backend(model: nn.Module, backend: str) -> None:
    if backend not in ("sdpa", "eager"):
        raise ValueError(backend)
    for module in model.modules():
        if isinstance(module, Attention):
            module.backend = backend
