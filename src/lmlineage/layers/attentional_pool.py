"""Attentional pooling (Lee et al. 2019, "Set Transformer", pooling by multihead attention; CoCa,
Yu et al. 2022, section 3.2): ``n_queries`` learned queries attend over a sequence of tokens, one
multi-head cross-attention layer, so a task reads a fixed number of summaries of them (CoCa: one
for the contrastive embedding, many for the captioning decoder to attend to).

The attention is the shared ``CrossAttention`` (queries from the learned vectors, keys and values
from the tokens), each side layer-normalised first, as open_clip's ``AttentionalPooler`` does."""

from __future__ import annotations

import torch
from torch import nn

from .cross_attention import CrossAttention
from .norm import make_norm


class AttentionalPool(nn.Module):
    def __init__(self, dim: int, n_head: int, n_queries: int, eps: float = 1e-5, std: float = 0.02):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_queries, dim) * std)
        self.query_norm = make_norm("layernorm", dim, eps)
        self.token_norm = make_norm("layernorm", dim, eps)
        self.attn = CrossAttention(dim, n_head, n_head, dim // n_head)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, dim) tokens -> (B, n_queries, dim) summaries."""
        queries = self.query_norm(self.queries).expand(tokens.shape[0], -1, -1)
        return self.attn(queries, self.token_norm(tokens))
