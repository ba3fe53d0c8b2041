"""Permutation language modelling with partial prediction (Yang et al. 2019, XLNet, sections 2.2-2.3).

For each sequence a factorization order z is drawn uniformly at random; the model maximises
log p(x_{z_t} | x_{z_<t}) for the last tokens of the order only, the targets: z_{>c}, with c chosen
so that 1/K of the tokens are predicted (K = 6 for XLNet-Large, section 3.1; ``k``). The other
tokens are context only, read by everyone and reading each other, as the released code builds
its masks (``_local_perm``): a non-target has rank -1, a target its place in the order, and
token i may read token j when j's rank is below i's (a non-target: below 0).

``prepare`` returns the permutation mask (B, T, T; True: i may not read j, as ``transformers``
takes ``perm_mask``), the one-hot target mapping (B, M, T; the m-th prediction at its position,
in position order) and the labels (B, M). The two-stream model predicts each target from the
query stream, which knows the target's position but not its content. No parameters.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class PermutationLM:
    def __init__(self, k: int = 6):
        if k < 1:
            raise ValueError(f"predict 1/k of each order: k must be >= 1, got {k}")
        self.k = k

    def prepare(self, ids: torch.Tensor, generator: torch.Generator | None = None,
                attention_mask: torch.Tensor | None = None):
        """(perm_mask, target_mapping, labels) for (B, T) ``ids``; padding (``attention_mask`` 0)
        is never a target. Every row predicts the same number of tokens: 1/k of its shortest row."""
        b, t = ids.shape
        real = torch.ones_like(ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        noise = torch.rand(b, t, generator=generator, device=generator.device if generator else ids.device)
        noise = noise.to(ids.device).masked_fill(~real, 2.0)  # padding after every real token in the order
        rank = noise.argsort(-1).argsort(-1)  # each position's place in the factorization order
        count = real.sum(-1, keepdim=True)
        predict = max(1, int(count.min()) // self.k)
        target = real & (rank >= count - predict)  # the last 1/k of the order
        rev = torch.where(target, rank, -1)
        own = torch.where(target, rev, rev + 1)  # a non-target reads only other non-targets
        perm_mask = own[:, :, None] <= rev[:, None, :]
        places = target.nonzero()[:, 1].view(b, predict)  # row-major: position order within each row
        return perm_mask, F.one_hot(places, t).to(torch.float32), ids.gather(1, places)

    @staticmethod
    def loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), reduction=reduction)
