"""The denoising entity auto-encoder, dEA (Zhang et al. 2019, ERNIE, section 3.4).

Token-entity alignments are corrupted: "(1) In 5% of the time, for a given token-entity alignment,
we replace the entity with another random entity ... (2) In 15% of the time, we mask token-entity
alignments ... (3) In the rest of the time, we keep token-entity alignments unchanged". The model
then predicts, at every aligned token, its original entity among the entities of its sequence
(eq. 7: a softmax over those candidates only, not the whole graph). Parameter-free: ``prepare``
corrupts the alignment, ``scores`` and ``loss`` read the head's vectors against the candidates'
(frozen TransE) embeddings.

The brief this was written to reads the shares the other way round (5% masked, 15% replaced); the
paper's text is followed: 5% replaced, 15% masked (the released code's ``ent_mask`` drop too).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class DenoisingEntityAutoEncoder:
    def __init__(self, n_entities: int, replace_rate: float = 0.05, mask_rate: float = 0.15):
        """``n_entities``: entity ids run 1..n_entities (0 is "no entity")."""
        if replace_rate + mask_rate > 1 or min(replace_rate, mask_rate) < 0:
            raise ValueError("the replaced and masked shares lie in [0, 1] and sum to at most 1")
        self.n_entities, self.replace_rate, self.mask_rate = n_entities, replace_rate, mask_rate

    def prepare(self, entity_ids: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, T) aligned entity ids (0: none) -> the corrupted alignment the model reads."""
        aligned = entity_ids > 0
        draw = torch.rand(entity_ids.shape, generator=generator, device=entity_ids.device)
        replaced = aligned & (draw < self.replace_rate)
        masked = aligned & (draw >= self.replace_rate) & (draw < self.replace_rate + self.mask_rate)
        random = torch.randint(1, max(self.n_entities, 1) + 1, entity_ids.shape, generator=generator,
                               device=entity_ids.device)
        out = torch.where(replaced, random, entity_ids)
        return out.masked_fill(masked, 0)

    @staticmethod
    def scores(vectors: torch.Tensor, rows: torch.Tensor, entity_ids: torch.Tensor, table: torch.Tensor):
        """``vectors`` (N, d_e): the head's output at the N aligned tokens, ``rows`` (N,) their
        sequences; ``entity_ids`` (B, T) the original alignment; ``table`` the entity embeddings.
        Returns (scores (N, M) against the batch's M distinct entities, -inf for those not in the
        token's own sequence; ``candidates`` (M,) their ids)."""
        candidates = entity_ids[entity_ids > 0].unique()  # sorted
        in_row = (entity_ids[:, :, None] == candidates[None, None, :]).any(dim=1)  # (B, M)
        scores = vectors @ table[candidates].to(vectors.dtype).T
        return scores.masked_fill(~in_row[rows], float("-inf")), candidates

    @staticmethod
    def loss(scores: torch.Tensor, candidates: torch.Tensor, targets: torch.Tensor, reduction: str = "mean"):
        """Cross-entropy of each aligned token's scores against its original entity ``targets`` (N,)."""
        return F.cross_entropy(scores.float(), torch.searchsorted(candidates, targets), reduction=reduction)
