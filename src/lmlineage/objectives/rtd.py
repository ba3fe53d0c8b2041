"""Replaced token detection (Clark et al. 2020, ELECTRA, section 2).

The generator's samples fill the masked positions, x_corrupt; the discriminator labels every
token: "if the generator happens to generate the correct token, that token is considered 'real'
instead of 'fake'". Its loss is the binary cross-entropy over all tokens, added to the generator's MLM loss with
weight lambda (section 2, the combined loss; lambda = 50 in appendix A, table 6).
Parameter-free: ``sample`` draws the fills, ``corrupt`` builds x_corrupt and the labels,
``loss`` scores the discriminator's logits.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class ReplacedTokenDetection:
    def __init__(self, weight: float = 50.0):
        self.weight = weight  # lambda in L_MLM + lambda * L_Disc

    @staticmethod
    @torch.no_grad()
    def sample(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One token per row of generator logits (N, V), drawn from its softmax (temperature 1);
        no gradient flows back through sampling (section 2)."""
        probs = torch.softmax(logits.float(), dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    @staticmethod
    def corrupt(input_ids: torch.Tensor, positions: torch.Tensor, samples: torch.Tensor):
        """``input_ids`` (B, T): the original tokens; ``positions`` (B, T) bool: the masked ones,
        filled in row-major order with ``samples`` (N,). Returns x_corrupt and the labels, 1 where
        the token differs from the original (a sample equal to it is original: label 0)."""
        corrupted = input_ids.clone()
        corrupted[positions] = samples.to(input_ids.dtype)
        return corrupted, (corrupted != input_ids).long()

    @staticmethod
    def loss(logits: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor | None = None,
             reduction: str = "mean") -> torch.Tensor:
        """Binary cross-entropy of the per-token logits (B, T) over the real tokens."""
        per_token = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
        if attention_mask is not None:
            per_token = per_token[attention_mask.bool()]
        return per_token.sum() if reduction == "sum" else per_token.mean()
