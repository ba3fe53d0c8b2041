"""Transformer-XL's relative positional attention (Dai et al. 2019, section 3.3), as a ``score_mod``
hook of the shared attention; XLNet's relative segment encodings (Yang et al. 2019, section 2.5)
as an optional fifth term.

With E the content and R a fixed sinusoid table of relative distances, the score of query i and
key j is (equation in section 3.3)

    A_ij = q_i . k_j            (a) content
         + q_i . W_R R_{i-j}    (b) content-dependent position
         + u . k_j              (c) a global content bias
         + v . W_R R_{i-j}      (d) a global position bias

so (a) + (c) = (q_i + u) . k_j, which the attention computes as its plain q . k with the queries
shifted by u, and (b) + (d) = (q_i + v) . W_R R_{i-j}, returned as an additive score. The table R
is the Transformer's sinusoids with no learned part, sines then cosines; W_R is each layer's
projection. u and v are one pair per layer, as the released code (``untie_r``) and XLNet keep them.

XLNet's segments: e_ij = (q_i + s) . S[seg_i != seg_j], with S two learned vectors per head (same
segment, different segment), so only whether two tokens share a segment matters; then the
positions a hook reads are (B, 2, T): each token's place and its segment id.
"""

from __future__ import annotations

import torch
from torch import nn


def sinusoids(distances: torch.Tensor, dim: int) -> torch.Tensor:
    """(n,) relative distances -> (n, dim) table: sin(d / 10000^(2k/dim)) for every k, then the cosines."""
    inv_freq = 1 / torch.pow(10000, torch.arange(0, dim, 2, device=distances.device).float() / dim)
    angle = distances.float()[:, None] * inv_freq
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)


def _heads(n_layer: int, *shape: int) -> nn.ParameterList:
    return nn.ParameterList(nn.Parameter(torch.zeros(*shape)) for _ in range(n_layer))


class RelativeSinusoidScores(nn.Module):
    """Each layer's W_R (``position_proj``), u (``content_bias``), v (``position_bias``) and, with
    ``segments``, s (``segment_bias``) and S (``segment_embed``); ``__call__`` is the attention's
    ``score_mod`` hook."""

    def __init__(self, d_model: int, n_head: int, head_dim: int, n_layer: int, segments: bool = False,
                 std: float = 0.02):
        super().__init__()
        self.d_model, self.n_head, self.head_dim, self.segments = d_model, n_head, head_dim, segments
        self.position_proj = nn.ModuleList(nn.Linear(d_model, n_head * head_dim, bias=False) for _ in range(n_layer))
        self.content_bias = _heads(n_layer, n_head, head_dim)
        self.position_bias = _heads(n_layer, n_head, head_dim)
        if segments:
            self.segment_bias = _heads(n_layer, n_head, head_dim)
            self.segment_embed = _heads(n_layer, 2, n_head, head_dim)
        for name, p in self.named_parameters():
            if "proj" not in name:  # the projections are Linear layers, initialised with the rest of the model
                nn.init.normal_(p, std=std)

    def forward(self, q, k, positions, key_positions, attention):
        """The ``score_mod`` hook: (queries shifted by u for the content term, (b) + (d) [+ e] in score units)."""
        layer, (b, h, t, d) = attention.layer, q.shape
        if positions is None:
            positions = torch.arange(t, device=q.device)[None]
        if key_positions is None:
            key_positions = torch.arange(k.shape[-2], device=q.device)[None]
        if self.segments:
            # (B, 2, T): each token's place and segment; plain (B, T) places are all one segment
            positions, q_segments = positions.unbind(-2) if positions.dim() == 3 else (positions, 0 * positions)
            key_positions, k_segments = key_positions.unbind(-2) if key_positions.dim() == 3 else \
                (key_positions, 0 * key_positions)
        delta = positions[..., :, None] - key_positions[..., None, :]  # (B or 1, Tq, Tk): i - j
        low, high = int(delta.min()), int(delta.max())
        table = sinusoids(torch.arange(low, high + 1, device=q.device), self.d_model).to(q.dtype)
        r = self.position_proj[layer](table).view(-1, h, d).transpose(0, 1)  # (H, distances, D): W_R R
        by_distance = (q + self.position_bias[layer][:, None]) @ r.transpose(-1, -2)  # (B, H, Tq, distances)
        scores = torch.take_along_dim(by_distance, (delta - low)[:, None], dim=-1)
        if self.segments:
            by_segment = (q + self.segment_bias[layer][:, None]) @ self.segment_embed[layer].permute(1, 2, 0)
            differ = (q_segments[..., :, None] != k_segments[..., None, :]).long()
            differ = differ.expand(b, t, k.shape[-2])[:, None]  # (B, 1, Tq, Tk)
            scores = scores + torch.take_along_dim(by_segment, differ, dim=-1)
        return q + self.content_bias[layer][:, None], scores * attention.scale
