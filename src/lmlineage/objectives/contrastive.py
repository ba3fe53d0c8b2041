"""The in-batch contrastive loss of dual encoders: each of N paired items must pick its own partner
among the batch's N candidates, in both directions.

For vectors x_i, y_i (L2-normalised, so their dot product is the cosine phi), a scale s and an
additive margin m taken off the true pair's score:

    L = -1/N sum_i log( e^{s (phi(x_i, y_i) - m)} / (e^{s (phi(x_i, y_i) - m)} + sum_{j != i} e^{s phi(x_i, y_j)}) )

and L' the same with x and y swapped.

- LaBSE's translation ranking (Yang et al. 2019, "Improving Multilingual Sentence Embedding using
  Bi-directional Dual Encoder with Additive Margin Softmax", section 3; Feng et al. 2020, section
  3.1, eq. 1-2): m = 0.3, a fixed s (the cosines alone span only [-1, 1], so a softmax over them
  cannot grow confident; later implementations scale by 10-20, the papers leave it implicit), and
  the loss L + L'.
- CLIP's symmetric loss (Radford et al. 2021, figure 3): m = 0, s = exp(t) with t a learnable
  temperature the model owns (passed in as ``scale``), and the loss (L + L') / 2.

Owns no parameters.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class InBatchContrastive:
    def __init__(self, margin: float = 0.0, scale: float = 10.0, directions: str = "sum"):
        """``margin``: LaBSE's m = 0.3 (section 4.2); ``scale``: s where none is passed to ``loss``;
        ``directions``: "sum" (L + L', LaBSE) or "mean" ((L + L') / 2, CLIP)."""
        if margin < 0 or scale <= 0:
            raise ValueError("margin must be >= 0 and scale > 0")
        if directions not in ("sum", "mean"):
            raise ValueError("directions must be 'sum' or 'mean'")
        self.margin, self.scale, self.directions = margin, scale, directions

    def scores(self, sources: torch.Tensor, targets: torch.Tensor, scale=None) -> torch.Tensor:
        """(N, d), (N, d) normalised -> (N, N) scaled cosines, the margin taken off the diagonal;
        ``scale``: a number or a 0-d tensor (a learned temperature's exp), else ``self.scale``."""
        cosines = sources.float() @ targets.float().T
        return (self.scale if scale is None else scale) * (
            cosines - self.margin * torch.eye(len(cosines), device=cosines.device))

    def loss(self, sources: torch.Tensor, targets: torch.Tensor, reduction: str = "mean", scale=None) -> torch.Tensor:
        """Both directions: each source ranks the targets, each target the sources."""
        scores = self.scores(sources, targets, scale)
        truth = torch.arange(len(scores), device=scores.device)
        both = F.cross_entropy(scores, truth, reduction=reduction) + F.cross_entropy(scores.T, truth,
                                                                                     reduction=reduction)
        return both if self.directions == "sum" else both / 2
