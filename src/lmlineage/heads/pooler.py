"""Sequence summaries of an encoder's hidden states.

``Pooler``: BERT's dense + tanh on the first token, [CLS] (Devlin et al. 2019, section 3: "C",
the final hidden vector of [CLS]; the dense + tanh is in the released modeling.py), feeding
NSP and sentence-level classifiers. ``mean_pool``: the parameter-free average over real tokens
that sentence embedders use (Reimers & Gurevych 2019, Sentence-BERT, section 3)."""

from __future__ import annotations

import torch
from torch import nn



class Pooler(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dense = nn.Linear(dim, dim)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, D) -> (B, D): the mean of the hidden states of real (unpadded) tokens."""
    if attention_mask is None:
        return hidden.mean(dim=1)
    weights = attention_mask.to(hidden.dtype)[:, :, None]
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
