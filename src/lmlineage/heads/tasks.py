"""Fine-tuning heads: the task-specific layers of BERT's Figure 4 (Devlin et al. 2019, section 4),
each a single linear layer on the encoder's output, with parameters of its own.

- ``SequenceClassifier``: (a) sentence-pair and (b) single-sentence classification from the
  sequence summary C, the final [CLS] vector (pooled, where the model has BERT's pooler):
  "the only new parameters ... are classification layer weights W in R^{K x H}" (section 4.1).
- ``ChoiceScorer``: multiple choice (SWAG, section 4.4): one score C . v per (context, choice)
  sequence, a softmax over the choices.
- ``SpanHead``: (c) extractive QA (SQuAD, section 4.2): a start vector S and an end vector E,
  P(start = i) = softmax_i(S . T_i), likewise the end.
- ``TokenClassifier``: (d) single-sentence tagging (NER, section 5.3): each token's own classes.

Dropout before the layer as in the released run_classifier.py (the encoder's hidden dropout);
QA has none there.
"""

from __future__ import annotations

import torch
from torch import nn


class SequenceClassifier(nn.Module):
    def __init__(self, dim: int, n_labels: int, dropout: float = 0.1):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(dim, n_labels)

    def forward(self, summary: torch.Tensor) -> torch.Tensor:
        """(B, d) -> (B, n_labels) logits."""
        return self.out(self.drop(summary))


class ChoiceScorer(SequenceClassifier):
    def __init__(self, dim: int, dropout: float = 0.1):
        super().__init__(dim, 1, dropout)

    def forward(self, summary: torch.Tensor) -> torch.Tensor:
        """(B * choices, d) -> (B * choices,) scores; the task views them as (B, choices)."""
        return super().forward(summary).squeeze(-1)


class TokenClassifier(SequenceClassifier):
    """The same layer applied at every position: (B, T, d) -> (B, T, n_labels)."""


class SpanHead(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.out = nn.Linear(dim, 2)  # rows: S, E

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, d) -> (B, T, 2): start logits [..., 0], end logits [..., 1]."""
        return self.out(hidden)
