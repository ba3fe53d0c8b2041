"""The language-modelling head: hidden states -> vocabulary logits, optionally tied to the
input embedding (Press & Wolf 2017)."""

from torch import nn


class LMHead(nn.Module):
    def __init__(self, dim: int, vocab_size: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(nn.init.normal_(nn.Linear(dim, vocab_size).weight.data, std=0.02))
        self.bias = nn.Parameter(nn.init.zeros_(nn.Linear(1, vocab_size).bias.data)) if bias else None

    def tie(self, embedding: nn.Embedding) -> None:
        self.weight = embedding.weight

    def forward(self, hidden):
        return nn.functional.linear(hidden, self.weight, self.bias)
