"""BERT's masked-LM head (Devlin et al. 2019, section 3.1 "Task #1"; the transform is in the
released code, run_pretraining.py: "one more non-linear transformation before the output layer").

hidden -> dense -> activation -> LayerNorm -> vocabulary logits, whose weight is tied to the
word embeddings and whose bias is the head's own."""

from __future__ import annotations

from torch import nn

from ..layers.mlp import ACTIVATIONS
from ..layers.norm import make_norm
from .lm import LMHead


class MLMHead(nn.Module):
    def __init__(self, dim: int, vocab_size: int, activation: str, eps: float, embed_dim: int | None = None):
        """``embed_dim``: width of the word embeddings when it differs from the hidden size (ALBERT)."""
        super().__init__()
        embed_dim = embed_dim or dim
        self.transform = nn.Linear(dim, embed_dim)
        self.act = ACTIVATIONS[activation]
        self.norm = make_norm("layernorm", embed_dim, eps)
        self.decoder = LMHead(embed_dim, vocab_size, bias=True)

    def tie(self, embedding: nn.Embedding) -> None:
        self.decoder.tie(embedding)

    def forward(self, hidden):
        return self.decoder(self.norm(self.act(self.transform(hidden))))
