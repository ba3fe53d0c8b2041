"""Masked language modelling (Devlin et al. 2019, section 3.1 "Task #1", appendix A.1).

"We mask 15% of all WordPiece tokens in each sequence at random"; of those chosen positions,
80% become [MASK], 10% a random token and 10% stay unchanged, and the model predicts the
original token at each of them. The objective owns no parameters: ``prepare`` corrupts a batch
and sets ``labels`` (-100 where nothing is predicted); ``loss`` scores the MLM logits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from .clm import CausalLM


class MaskedLM:
    ignore_index = -100

    def __init__(self, mask_id: int, vocab_size: int, special_ids: Iterable[int] = (), mask_rate: float = 0.15,
                 replace_with_mask: float = 0.8, replace_with_random: float = 0.1):
        """``special_ids`` ([CLS], [SEP], [PAD], ...) are never chosen, nor drawn as random tokens."""
        if not 0.0 < mask_rate < 1.0 or replace_with_mask + replace_with_random > 1.0:
            raise ValueError("mask_rate must lie in (0, 1) and the replacement shares sum to at most 1")
        self.mask_id, self.vocab_size = mask_id, vocab_size
        self.special_ids = torch.tensor(sorted(set(special_ids) | {mask_id}), dtype=torch.long)
        self.mask_rate = mask_rate
        self.replace_with_mask, self.replace_with_random = replace_with_mask, replace_with_random
        ordinary = torch.ones(vocab_size, dtype=torch.bool)
        ordinary[self.special_ids[self.special_ids < vocab_size]] = False
        self.random_ids = ordinary.nonzero().squeeze(1)  # what a "random token" is drawn from

    def prepare(self, batch, generator: torch.Generator | None = None) -> dict:
        """``batch``: a dict with ``input_ids`` (B, T) and optionally ``attention_mask``, or the ids
        alone. Returns the batch with corrupted ``input_ids`` and the ``labels`` to predict."""
        batch = dict(batch) if isinstance(batch, Mapping) else {"input_ids": batch}
        ids = batch["input_ids"]
        candidates = ~torch.isin(ids, self.special_ids.to(ids.device))
        if batch.get("attention_mask") is not None:
            candidates &= batch["attention_mask"].bool()
        chosen = self._choose(candidates, generator)

        draw = torch.rand(ids.shape, generator=generator, device=ids.device)
        to_mask = chosen & (draw < self.replace_with_mask)
        to_random = chosen & (draw >= self.replace_with_mask) & \
            (draw < self.replace_with_mask + self.replace_with_random)
        random_tokens = self.random_ids.to(ids.device)[
            torch.randint(len(self.random_ids), ids.shape, generator=generator, device=ids.device)]
        corrupted = torch.where(to_mask, torch.full_like(ids, self.mask_id), ids)
        corrupted = torch.where(to_random, random_tokens, corrupted)
        batch["labels"] = torch.where(chosen, ids, torch.full_like(ids, self.ignore_index))
        batch["input_ids"] = corrupted
        return batch

    def _choose(self, candidates: torch.Tensor, generator) -> torch.Tensor:
        """round(mask_rate * n) of each row's n candidates (at least one), uniformly at random."""
        scores = torch.rand(candidates.shape, generator=generator, device=candidates.device)
        scores = scores.masked_fill(~candidates, 2.0)  # non-candidates rank last
        rank = scores.argsort(dim=1).argsort(dim=1)
        n = candidates.sum(dim=1, keepdim=True)
        k = torch.where(n > 0, (n * self.mask_rate).round().clamp(min=1), n)
        return (rank < k) & candidates

    # The same token-level cross-entropy as causal LM, counted at the chosen positions only.
    loss = CausalLM.loss
