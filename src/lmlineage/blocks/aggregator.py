"""ERNIE's aggregator (Zhang et al. 2019, section 3.3, figure 2): one layer of the K-encoder, which
reads two streams, the tokens (B, T, d) and the entities aligned to them (B, T, d_e), and fuses them.

Each stream first attends to itself (eq. 4): multi-head self-attention over the tokens, and over the
entities (only the positions an entity is aligned to are keys). Then the information fusion layer
(eq. 5), for a token j aligned to an entity k:

    h_j = gelu(W_t w_j + W_e e_k + b),  w_j' = W_t' h_j + b_t',  e_k' = W_e' h_j + b_e'

and h_j = gelu(W_t w_j + b) for a token with no entity. As in the released code (BertLayerMix), each
sub-layer is residual and post-LayerNorm like a BERT layer, so an aggregator that sees no entity is
exactly a BERT layer (self-attention, then the d_ff-wide feed-forward), and a model with no
entities linked is the same-size BERT.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core import masks
from ..core.config import ModelConfig
from ..layers.attention import Attention
from ..layers.mlp import ACTIVATIONS
from ..layers.norm import make_norm


class Aggregator(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int, entity_dim: int, entity_heads: int):
        super().__init__()
        d, d_ff, eps = cfg.d_model, cfg.mlp.ff_dim(cfg.d_model), cfg.norm.eps
        self.attn = Attention(d, cfg.attention.n_head, cfg.attention.kv_heads, cfg.attention.dim_head(d), cfg.bias,
                              cfg.dropout, layer)
        self.attn_norm = make_norm("layernorm", d, eps)
        self.entity_attn = Attention(entity_dim, entity_heads, entity_heads, entity_dim // entity_heads, cfg.bias,
                                     cfg.dropout, layer)
        self.entity_attn_norm = make_norm("layernorm", entity_dim, eps)
        self.token_in = nn.Linear(d, d_ff)  # W_t, b
        self.entity_in = nn.Linear(entity_dim, d_ff, bias=False)  # W_e
        self.act = ACTIVATIONS[cfg.mlp.activation]
        self.token_out = nn.Linear(d_ff, d)
        self.token_norm = make_norm("layernorm", d, eps)
        self.entity_out = nn.Linear(d_ff, entity_dim)
        self.entity_norm = make_norm("layernorm", entity_dim, eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, tokens, entities, aligned, token_mask=None):
        """``tokens`` (B, T, d); ``entities`` (B, T, d_e), zero where ``aligned`` (B, T) is False;
        ``token_mask``: the token attention's mask (padding) or None. Returns both streams."""
        w = self.attn_norm(tokens + self.drop(self.attn(tokens, mask=token_mask)))
        entity_mask = masks.never_empty(masks.padding(aligned))  # a row with no entity attends anywhere: unused
        e = self.entity_attn_norm(entities + self.drop(self.entity_attn(entities, mask=entity_mask)))
        e = e * aligned[..., None]
        h = self.act(self.token_in(w) + self.entity_in(e))
        tokens = self.token_norm(w + self.drop(self.token_out(h)))
        entities = self.entity_norm(e + self.drop(self.entity_out(h))) * aligned[..., None]
        return tokens, entities


def aligned_mask(entity_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) True where a token is aligned to an entity (id 0 is "no entity")."""
    return entity_ids > 0
