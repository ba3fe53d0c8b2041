"""BART's document corruptions (Lewis et al. 2019, "BART: Denoising Sequence-to-Sequence
Pre-training ...", section 2.2 and figure 2). The decoder reconstructs the original document
from the corrupted one; the noises are parameter-free functions of one document's token ids
(a 1-D LongTensor) and a ``torch.Generator``, and compose in any order.

- ``TokenMasking``: random tokens replaced by [MASK] (as in BERT).
- ``TokenDeletion``: random tokens deleted; the model must find which positions are missing.
- ``TextInfilling``: spans with lengths drawn from Poisson(lambda = 3), each replaced by a
  *single* [MASK]; a zero-length span inserts a [MASK]. The model must find how many tokens
  are missing.
- ``SentencePermutation``: the document is cut into sentences after full stops and they are
  shuffled.
- ``DocumentRotation``: a token is chosen uniformly at random and the document rotated to
  begin with it.

The large model (section 5.1): "we mask 30% of tokens in each document, and permute all
sentences": ``BART_LARGE = Compose(SentencePermutation(...), TextInfilling(mask_id, 0.3))``.
Special tokens (<s>, </s>) are the caller's: noise the body, then wrap it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def _count(n: int, rate: float) -> int:
    return int(round(n * rate))


def _choose(n: int, k: int, generator) -> torch.Tensor:
    """A (n,) boolean mask with exactly ``k`` positions chosen uniformly at random."""
    chosen = torch.zeros(n, dtype=torch.bool)
    chosen[torch.randperm(n, generator=generator)[:k]] = True
    return chosen


class TokenMasking:
    def __init__(self, mask_id: int, rate: float = 0.15):
        self.mask_id, self.rate = mask_id, rate

    def __call__(self, ids: torch.Tensor, generator=None) -> torch.Tensor:
        chosen = _choose(len(ids), _count(len(ids), self.rate), generator)
        return ids.masked_fill(chosen, self.mask_id)


class TokenDeletion:
    def __init__(self, rate: float = 0.15):
        self.rate = rate

    def __call__(self, ids: torch.Tensor, generator=None) -> torch.Tensor:
        return ids[~_choose(len(ids), _count(len(ids), self.rate), generator)]


class TextInfilling:
    """``rate`` of the tokens (rounded) are covered by spans of Poisson(``mean_span``) lengths;
    the spans do not overlap, so exactly that share of the text is hidden. The last span is
    cut to make the count exact."""

    def __init__(self, mask_id: int, rate: float = 0.3, mean_span: float = 3.0):
        self.mask_id, self.rate, self.mean_span = mask_id, rate, mean_span

    def spans(self, n: int, generator=None) -> tuple[list[int], list[int]]:
        """(lengths, gaps): span i (``lengths[i]`` tokens, maybe 0) follows ``gaps[i]`` kept tokens;
        ``gaps`` has one more entry, the kept tokens after the last span."""
        budget = _count(n, self.rate)
        lengths: list[int] = []
        while sum(lengths) < budget:
            drawn = torch.poisson(torch.full((max(4, budget // max(int(self.mean_span), 1)),), self.mean_span),
                                  generator=generator).long().tolist()
            for length in drawn:
                if sum(lengths) >= budget:
                    break
                lengths.append(min(length, budget - sum(lengths)))
        # The n - budget kept tokens fall into len(lengths) + 1 gaps, every arrangement equally
        # likely ("stars and bars"): choose which of the n - budget + k slots are the spans.
        k, kept = len(lengths), n - budget
        is_span = _choose(kept + k, k, generator)
        gaps, run = [], 0
        for slot in is_span.tolist():
            if slot:
                gaps.append(run)
                run = 0
            else:
                run += 1
        gaps.append(run)
        return lengths, gaps

    def __call__(self, ids: torch.Tensor, generator=None) -> torch.Tensor:
        lengths, gaps = self.spans(len(ids), generator)
        pieces, at = [], 0
        mask = ids.new_tensor([self.mask_id])
        for length, gap in zip(lengths, gaps):
            pieces += [ids[at : at + gap], mask]
            at += gap + length
        pieces.append(ids[at:])
        return torch.cat(pieces)


class SentencePermutation:
    """Sentences end after any of ``sentence_end_ids`` (full stops); a trailing piece without
    one is a sentence too. All sentences are shuffled (section 5.1: "permute all sentences")."""

    def __init__(self, sentence_end_ids: Iterable[int]):
        self.ends = torch.tensor(sorted(set(sentence_end_ids)), dtype=torch.long)

    def sentences(self, ids: torch.Tensor) -> list[torch.Tensor]:
        cuts = (torch.isin(ids, self.ends).nonzero().squeeze(1) + 1).tolist()
        bounds = [0, *[c for c in cuts if c < len(ids)], len(ids)]
        return [ids[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]

    def __call__(self, ids: torch.Tensor, generator=None) -> torch.Tensor:
        sentences = self.sentences(ids)
        if len(sentences) < 2:
            return ids.clone()
        order = torch.randperm(len(sentences), generator=generator).tolist()
        return torch.cat([sentences[i] for i in order])


class DocumentRotation:
    def __call__(self, ids: torch.Tensor, generator=None) -> torch.Tensor:
        if len(ids) == 0:
            return ids.clone()
        start = int(torch.randint(len(ids), (1,), generator=generator))
        return torch.roll(ids, -start)


class Compose:
    """Apply noises in order: ``Compose(SentencePermutation(ends), TextInfilling(mask))``."""

    def __init__(self, *noises):
        self.noises = noises

    def __call__(self, ids: torch.Tensor, generator=None) -> torch.Tensor:
        for noise in self.noises:
            ids = noise(ids, generator)
        return ids


class BartDenoising:
    """The denoising objective: the source is the corrupted document, the target the original.
    ``prepare(documents)`` -> ``(source, target)`` padded with ``PAD`` like the pair samplers,
    so the sequence-to-sequence objective's ``prepare`` and label-smoothed loss apply unchanged."""

    def __init__(self, noise):
        self.noise = noise

    def prepare(self, documents: Iterable[torch.Tensor], generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        from .seq2seq import PAD

        documents = list(documents)
        sources = [self.noise(doc, generator) for doc in documents]

        def pad(rows):
            out = torch.full((len(rows), max(len(r) for r in rows)), PAD, dtype=torch.long)
            for i, r in enumerate(rows):
                out[i, : len(r)] = r
            return out

        return pad(sources), pad(documents)
