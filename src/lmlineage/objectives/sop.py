"""Sentence order prediction (Lan et al. 2020, ALBERT, section 3.1 "Inter-sentence coherence loss").

"uses as positive examples the same technique as BERT (two consecutive segments from the same
document), and as negative examples the same two consecutive segments but with their order
swapped" -- which asks about coherence, not topic (NSP's negatives come from other documents).
Data-side and parameter-free: ``prepare`` cuts each window into two consecutive segments and
swaps them half the time; the loss is the segment-pair head's cross-entropy, as for NSP.
"""

from __future__ import annotations

import torch

from .nsp import NextSentencePrediction

IN_ORDER, SWAPPED = 0, 1  # the reference checkpoints' convention (AlbertForPreTraining's sentence_order_label)


class SentenceOrderPrediction:
    label_key = "sentence_order_label"

    def __init__(self, swap_rate: float = 0.5):
        self.swap_rate = swap_rate

    def prepare(self, windows: torch.Tensor, cls_id: int, sep_id: int, generator=None) -> dict:
        """Windows (B, L), L >= 2 -> ``[CLS] first [SEP] second [SEP]`` (B, L + 3) with segment ids
        0 / 1: A = window[:p], B = window[p:], p uniform in [1, L-1] per row; in order (A, B) or,
        with probability ``swap_rate``, swapped (B, A)."""
        b, length = windows.shape
        device = windows.device
        split = torch.randint(1, length, (b, 1), generator=generator, device=device)
        swapped = torch.rand(b, generator=generator, device=device) < self.swap_rate
        first_len = torch.where(swapped[:, None], length - split, split)
        j = torch.arange(length + 3, device=device)[None, :]  # output column
        in_second = j >= first_len + 2  # the second segment and its closing [SEP]
        offset_first = torch.where(swapped[:, None], split, 0)  # where the first segment starts in the window
        offset_second = torch.where(swapped[:, None], 0, split)
        source = torch.where(in_second, j - first_len - 2 + offset_second, j - 1 + offset_first)
        ids = windows.gather(1, source.clamp(0, length - 1))
        ids = torch.where(j == 0, cls_id, ids)
        ids = torch.where((j == first_len + 1) | (j == length + 2), sep_id, ids)
        labels = torch.full((b,), IN_ORDER, device=device).masked_fill(swapped, SWAPPED)
        return {"input_ids": ids, "token_type_ids": in_second.long(), self.label_key: labels}

    loss = staticmethod(NextSentencePrediction.loss)
