"""ERNIE's entity prediction head for the denoising entity auto-encoder (Zhang et al. 2019, section
3.4, eq. 7: p(e_j | w_i) = exp(linear(w_i^o) . e_j) / sum_k exp(linear(w_i^o) . e_k)).

The token's output -> dense to the entity width -> activation -> LayerNorm (the released code's
BertEntPredictionHead transform); the scores against the candidate entities' embeddings are the
objective's (objectives/dea.py), since the candidates change with every sequence."""

from __future__ import annotations

from torch import nn

from ..layers.mlp import ACTIVATIONS
from ..layers.norm import make_norm


class EntityPredictionHead(nn.Module):
    def __init__(self, dim: int, entity_dim: int, activation: str, eps: float):
        super().__init__()
        self.transform = nn.Linear(dim, entity_dim)
        self.act = ACTIVATIONS[activation]
        self.norm = make_norm("layernorm", entity_dim, eps)

    def forward(self, hidden):
        return self.norm(self.act(self.transform(hidden)))
