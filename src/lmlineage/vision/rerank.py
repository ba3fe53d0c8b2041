"""Reranking drawings by a scorer of (image, caption) pairs, as DALL-E reranks its samples by a
CLIP's score (Ramesh et al. 2021, section 2.5): ``candidates`` drawings of each kept one are drawn,
and the best-scored ``per_caption`` of each caption are kept, best first."""

from __future__ import annotations

from typing import Callable

import torch

from ..core.errors import UserError
from .text_to_image import draw

# (images (N, C, H, W) in [-1, 1], captions (N,)) -> scores (N,), higher is better
Scorer = Callable[[torch.Tensor, list[str]], torch.Tensor]


def best_of(scores: torch.Tensor, groups: int, keep: int) -> torch.Tensor:
    """Indices of the ``keep`` best scores of each of ``groups`` equal, consecutive runs of
    ``scores``, each run's best first (ties: the earlier first)."""
    runs = scores.reshape(groups, -1)
    if keep > runs.shape[1]:
        raise ValueError(f"cannot keep {keep} of {runs.shape[1]} candidates")
    order = runs.argsort(dim=1, descending=True, stable=True)[:, :keep]
    return (order + runs.shape[1] * torch.arange(groups, device=scores.device)[:, None]).flatten()


def draw_reranked(model, tokenizer, captions: list[str], scorer: Scorer, *, per_caption: int = 1,
                  candidates: int = 8, **options) -> tuple[torch.Tensor, torch.Tensor]:
    """(the best ``per_caption`` of ``per_caption * candidates`` drawings of each caption, caption by
    caption, (len * per_caption, C, H, W); their scores). ``options``: ``vision.text_to_image.draw``'s."""
    if candidates < 1:
        raise UserError(f"--candidates {candidates}: at least one drawing per kept one", "give --candidates 1 or more")
    drawn = draw(model, tokenizer, captions, per_caption=per_caption * candidates, **options)
    scores = scorer(drawn, [c for c in captions for _ in range(per_caption * candidates)]).to(drawn.device)
    kept = best_of(scores, len(captions), per_caption)
    return drawn[kept], scores[kept]
