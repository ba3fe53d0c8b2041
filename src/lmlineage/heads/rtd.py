"""ELECTRA's replaced-token detection head (Clark et al. 2020, section 2: "the discriminator
predicts whether the token at position t is 'real' ... with a sigmoid output layer").

One logit per position: hidden -> dense -> activation -> dense to 1 (the released code's
discriminator head, a hidden layer before the sigmoid's logit). Positive: replaced."""

from __future__ import annotations

from torch import nn

from ..layers.mlp import ACTIVATIONS


class ReplacedTokenHead(nn.Module):
    def __init__(self, dim: int, activation: str):
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.act = ACTIVATIONS[activation]
        self.prediction = nn.Linear(dim, 1)

    def forward(self, hidden):
        return self.prediction(self.act(self.dense(hidden))).squeeze(-1)
