"""T5's span corruption (Raffel et al. 2020, section 3.1.4 and figure 2).

"We randomly sample and then drop out 15% of tokens in the input sequence. All consecutive
spans of dropped-out tokens are replaced by a single sentinel token"; the target is each
sentinel followed by the span it replaced; mean span length 3 (section 3.3.4, table 7). Each
sentinel is unique to its span; they are the ids at the top of the vocabulary (T5's
``<extra_id_0>`` is the last id, ``<extra_id_1>`` the one below, ...). Inputs and targets end
with the end-of-sequence token.

Spans as the released code draws them: with n noise tokens in k spans, the noise is cut into k
non-empty runs and the rest into k non-empty runs, uniformly at random, interleaved (the text
starts with kept tokens). n = 15% of the length and k = n / 3 are rounded stochastically, so the
noise share and the mean span length hold in expectation at any length (the released code
rounds to nearest, which biases short sequences: 128 tokens give 19 in 6 spans, mean 3.17).

The objective owns no parameters: ``prepare`` corrupts a batch of token windows, ``loss``
scores decoder logits against its ``labels``.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


class SpanCorruption:
    ignore_index = -100

    def __init__(self, vocab_size: int, eos_id: int, pad_id: int, decoder_start_id: int, noise_density: float = 0.15,
                 mean_span: float = 3.0, n_sentinels: int = 100):
        """``vocab_size``: the model's, whose top ``n_sentinels`` ids are the sentinels."""
        if not 0 < noise_density < 1 or mean_span < 1:
            raise ValueError("noise_density must lie in (0, 1) and mean_span be at least 1")
        self.vocab_size, self.eos_id, self.pad_id = vocab_size, eos_id, pad_id
        self.decoder_start_id = decoder_start_id
        self.noise_density, self.mean_span, self.n_sentinels = noise_density, mean_span, n_sentinels

    def sentinel(self, j: int) -> int:
        return self.vocab_size - 1 - j

    @property
    def sentinel_ids(self) -> torch.Tensor:
        return torch.arange(self.vocab_size - self.n_sentinels, self.vocab_size)

    def noise_mask(self, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(length,) boolean: True at dropped tokens; alternating kept and dropped runs, kept first."""
        if length < 2:
            raise ValueError("span corruption needs at least 2 tokens")
        noise = _stochastic_round(length * self.noise_density, generator)
        noise = min(max(noise, 1), length - 1)
        spans = _stochastic_round(noise / self.mean_span, generator)
        spans = min(max(spans, 1), noise, length - noise, self.n_sentinels)
        noise_runs = _random_composition(noise, spans, generator)
        kept_runs = _random_composition(length - noise, spans, generator)
        runs = torch.stack([kept_runs, noise_runs], dim=1).flatten()  # kept, dropped, kept, dropped, ...
        is_noise = torch.tensor([False, True]).repeat(spans)
        return is_noise.repeat_interleave(runs)

    def prepare(self, windows: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Token windows (B, L) -> ``input_ids`` / ``attention_mask`` (the corrupted source,
        right-padded), ``decoder_input_ids`` (start id, then the target shifted right) and
        ``labels`` (sentinels and dropped spans, then eos; ``ignore_index`` at padding)."""
        sources, targets = [], []
        for row in windows.cpu():
            noise = self.noise_mask(len(row), generator)
            starts = noise & ~torch.cat([torch.tensor([False]), noise[:-1]])  # the first token of each span
            span_index = starts.long().cumsum(0) - 1
            sentinels = self.vocab_size - 1 - span_index  # the sentinel of each token's span
            keep_in_source = ~noise | starts  # a span shrinks to its first slot, which shows the sentinel
            source = torch.where(noise, sentinels, row)[keep_in_source]
            # Target: each span's sentinel, then the span; the kept tokens vanish.
            target = torch.stack([sentinels, row], dim=1)[noise]  # (noise tokens, 2): sentinel, token
            target = target[torch.stack([starts[noise], torch.ones_like(starts[noise])], dim=1)]
            eos = torch.tensor([self.eos_id])
            sources.append(torch.cat([source, eos]))
            targets.append(torch.cat([target, eos]))
        input_ids, attention_mask = _pad(sources, self.pad_id)
        labels, target_mask = _pad(targets, self.ignore_index)
        decoder_input_ids = torch.cat([torch.full_like(labels[:, :1], self.decoder_start_id), labels[:, :-1]], dim=1)
        decoder_input_ids = decoder_input_ids.masked_fill(decoder_input_ids == self.ignore_index, self.pad_id)
        device = windows.device
        return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device),
                "decoder_input_ids": decoder_input_ids.to(device), "labels": labels.to(device)}

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                               ignore_index=self.ignore_index, reduction=reduction)


def _stochastic_round(x: float, generator) -> int:
    low = math.floor(x)
    return low + int(torch.rand((), generator=generator) < x - low)


def _random_composition(total: int, parts: int, generator) -> torch.Tensor:
    """``parts`` positive integers summing to ``total``, uniform over all such compositions."""
    cuts = torch.randperm(total - 1, generator=generator)[: parts - 1].sort().values + 1
    edges = torch.cat([torch.tensor([0]), cuts, torch.tensor([total])])
    return edges.diff()


def _pad(rows: list[torch.Tensor], value: int):
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return out, mask
