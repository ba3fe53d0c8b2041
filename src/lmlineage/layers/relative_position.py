"""T5's relative position bias (Raffel et al. 2020, section 2.1): no position embeddings; each
head adds a learned scalar, chosen by the bucket of the key's offset from the query, to its
attention scores. One table per stack, shared by all its layers.

Buckets (the released Mesh TensorFlow code): offsets below ``max_exact = buckets / 2`` get a
bucket each; larger ones share logarithmically wider buckets up to ``max_distance``, beyond
which all offsets share the last bucket. Bidirectional (encoder): half the buckets for keys
after the query, half for keys at or before it. Causal (decoder): only keys at or before the
query, all buckets for them. Defaults 32 buckets, max distance 128 (section 2.1, appendix).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def relative_buckets(offset: torch.Tensor, bidirectional: bool, buckets: int = 32, max_distance: int = 128):
    """Bucket ids (same shape as ``offset = key position - query position``) in [0, buckets)."""
    base = torch.zeros_like(offset)
    if bidirectional:
        buckets //= 2
        base = (offset > 0).long() * buckets  # keys after the query use the upper half
        distance = offset.abs()
    else:
        distance = (-offset).clamp(min=0)  # a causal decoder never sees later keys
    max_exact = buckets // 2
    # Log-spaced from max_exact to max_distance over the other half of the buckets.
    far = max_exact + (
        torch.log(distance.clamp(min=max_exact).float() / max_exact) / math.log(max_distance / max_exact)
        * (buckets - max_exact)
    ).long()
    far = far.clamp(max=buckets - 1)
    return base + torch.where(distance < max_exact, distance, far)


class RelativePositionBias(nn.Module):
    """The attention ``score_bias`` hook: (B, Tq) query and (B, Tk) key positions ->
    (B, H, Tq, Tk) learned bias."""

    def __init__(self, n_head: int, bidirectional: bool, buckets: int = 32, max_distance: int = 128):
        super().__init__()
        self.bidirectional, self.buckets, self.max_distance = bidirectional, buckets, max_distance
        self.embed = nn.Embedding(buckets, n_head)

    def forward(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        offset = k_positions[:, None, :] - q_positions[:, :, None]  # (B, Tq, Tk)
        bucket = relative_buckets(offset, self.bidirectional, self.buckets, self.max_distance)
        return self.embed(bucket).permute(0, 3, 1, 2)
