"""Attention whose queries, keys and values are three inputs, each with its own projection: SAM's
two-way transformer (Kirillov et al. 2023, appendix A) adds positions to the queries and keys but
not to the values, and its cross-attentions work at a reduced width (``head_dim``). Scores and both
backends are the shared ``Attention``'s ``_attend``."""

from __future__ import annotations

from torch import nn

from .attention import Attention


class SplitAttention(Attention):
    def __init__(self, dim: int, n_head: int, head_dim: int, bias: bool = True):
        super().__init__(dim, n_head, n_head, head_dim, bias)
        del self.qkv
        self.q = nn.Linear(dim, n_head * head_dim, bias=bias)
        self.k = nn.Linear(dim, n_head * head_dim, bias=bias)
        self.v = nn.Linear(dim, n_head * head_dim, bias=bias)

    def forward(self, query, key, value):
        """(B, T, dim) queries, (B, S, dim) keys and values -> (B, T, dim)."""
        (b, t, _), s = query.shape, key.shape[1]
        q = self.q(query).view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k(key).view(b, s, self.n_head, self.head_dim).transpose(1, 2)
        v = self.v(value).view(b, s, self.n_head, self.head_dim).transpose(1, 2)
        y = self._attend(q, k, v, None, False)
        return self.out(y.transpose(1, 2).reshape(b, t, self.n_head * self.head_dim))
