"""The translation ranking loss with in-batch negatives and an additive margin (Yang et al. 2019,
"Improving Multilingual Sentence Embedding using Bi-directional Dual Encoder with Additive Margin
Softmax", section 3; LaBSE, Feng et al. 2020, section 3.1, eq. 1-2).

For a batch of N translation pairs with sentence vectors x_i, y_i (L2-normalised, so their dot
product is the cosine phi), each source must rank its own translation above the batch's other
N - 1 targets, the true pair's score lowered by the margin m:

    L = -1/N sum_i log( e^{s (phi(x_i, y_i) - m)} / (e^{s (phi(x_i, y_i) - m)} + sum_{j != i} e^{s phi(x_i, y_j)}) )

and the same with sources and targets swapped (bidirectional): loss = L + L'. ``scale`` s
multiplies the cosines, which alone span only [-1, 1]: a softmax over them cannot grow confident
(later implementations scale by 10-20; the papers leave it implicit). Owns no parameters.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class TranslationRanking:
    def __init__(self, margin: float = 0.3, scale: float = 10.0):
        """``margin``: LaBSE's m = 0.3 (section 4.2)."""
        if margin < 0 or scale <= 0:
            raise ValueError("margin must be >= 0 and scale > 0")
        self.margin, self.scale = margin, scale

    def scores(self, sources: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(N, d), (N, d) normalised -> (N, N) scaled cosines, the margin taken off the diagonal."""
        cosines = sources.float() @ targets.float().T
        return self.scale * (cosines - self.margin * torch.eye(len(cosines), device=cosines.device))

    def loss(self, sources: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Both directions, summed: each source ranks the targets, each target the sources."""
        scores = self.scores(sources, targets)
        truth = torch.arange(len(scores), device=scores.device)
        return F.cross_entropy(scores, truth, reduction=reduction) + F.cross_entropy(scores.T, truth,
                                                                                     reduction=reduction)
