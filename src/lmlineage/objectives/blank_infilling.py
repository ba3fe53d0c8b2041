"""Autoregressive blank infilling (Du et al. 2022, "GLM: General Language Model Pretraining with
Autoregressive Blank Infilling", section 2.1, figure 2).

From a text x, spans are sampled, their lengths drawn from Poisson(lambda = 3), "until at least
15% of the original tokens are masked" (section 2.2.1). Part A is x with each span replaced by
one [MASK]; Part B is the spans in a random order, each given as [S] + span and predicted as
span + [E]. Part A attends to itself both ways, Part B to Part A and to its own earlier tokens
(the prefix-LM mask, ``core.masks.prefix``). 2-D positions (section 2.2.2): the first is the
position in Part A (a span's tokens take its [MASK]'s position), the second the position inside
the span (0 in Part A, 1, 2, ... from a span's [S]).

Parameter-free: ``prepare`` builds the batch, ``loss`` scores the Part B predictions.
"""

from __future__ import annotations

import math

import torch

from .clm import CausalLM


class BlankInfilling:
    ignore_index = -100

    def __init__(self, mask_id: int, start_id: int, end_id: int, pad_id: int = 0, mask_ratio: float = 0.15,
                 mean_span: float = 3.0):
        if not 0.0 < mask_ratio < 1.0 or mean_span <= 0:
            raise ValueError("mask_ratio must lie in (0, 1) and mean_span be positive")
        self.mask_id, self.start_id, self.end_id, self.pad_id = mask_id, start_id, end_id, pad_id
        self.mask_ratio, self.mean_span = mask_ratio, mean_span

    def sample_spans(self, length: int, generator: torch.Generator | None = None) -> list[tuple[int, int]]:
        """Non-overlapping, non-adjacent [start, end) spans covering >= mask_ratio of ``length``
        tokens (at least one token), sorted by start."""
        goal = max(1, math.ceil(self.mask_ratio * length))
        lengths: list[int] = []
        while sum(lengths) < goal:
            drawn = torch.poisson(torch.tensor([self.mean_span]), generator=generator)
            lengths.append(int(min(max(drawn.item(), 1), length)))
        # Room for every span with a kept token between neighbours: drop the last drawn if need be.
        while len(lengths) > 1 and (sum(lengths) > length or len(lengths) > length - sum(lengths) + 1):
            lengths.pop()
        kept = length - sum(lengths)
        # Each span goes into its own gap between kept tokens (kept + 1 gaps), in a random order.
        gaps = torch.randperm(kept + 1, generator=generator)[: len(lengths)].sort().values.tolist()
        order = torch.randperm(len(lengths), generator=generator).tolist()
        spans, masked_before = [], 0
        for gap, i in zip(gaps, order):
            start = gap + masked_before
            spans.append((start, start + lengths[i]))
            masked_before += lengths[i]
        return spans

    def corrupt(self, tokens: list[int], spans: list[tuple[int, int]], order: list[int]) -> dict:
        """One example: Part A then Part B (spans in ``order``), with 2-D positions and labels."""
        part_a, mask_at, cursor = [], [], 0
        for start, end in spans:
            part_a += tokens[cursor:start]
            mask_at.append(len(part_a))
            part_a.append(self.mask_id)
            cursor = end
        part_a += tokens[cursor:]
        ids, positions, blocks = list(part_a), list(range(len(part_a))), [0] * len(part_a)
        labels = [self.ignore_index] * len(part_a)
        for j in order:
            span = tokens[spans[j][0]:spans[j][1]]
            ids += [self.start_id, *span]
            labels += [*span, self.end_id]
            positions += [mask_at[j]] * (len(span) + 1)
            blocks += list(range(1, len(span) + 2))
        return {"input_ids": ids, "positions": positions, "block_positions": blocks, "labels": labels,
                "prefix_length": len(part_a)}

    def prepare(self, windows: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Windows (B, L) of token ids -> right-padded tensors: ``input_ids``, ``attention_mask``,
        ``position_ids`` (B, 2, N), ``prefix_lengths`` (B,), ``labels`` (-100 where nothing is predicted)."""
        examples = []
        for row in windows.tolist():
            spans = self.sample_spans(len(row), generator)
            order = torch.randperm(len(spans), generator=generator).tolist()
            examples.append(self.corrupt(row, spans, order))
        width = max(len(e["input_ids"]) for e in examples)

        def padded(key, value):
            return torch.tensor([e[key] + [value] * (width - len(e[key])) for e in examples], device=windows.device)

        return {
            "input_ids": padded("input_ids", self.pad_id),
            "attention_mask": torch.tensor([[1] * len(e["input_ids"]) + [0] * (width - len(e["input_ids"]))
                                            for e in examples], device=windows.device),
            "position_ids": torch.stack([padded("positions", 0), padded("block_positions", 0)], dim=1),
            "prefix_lengths": torch.tensor([e["prefix_length"] for e in examples], device=windows.device),
            "labels": padded("labels", self.ignore_index),
        }

    # Token-level cross-entropy over the Part B predictions.
    loss = CausalLM.loss
