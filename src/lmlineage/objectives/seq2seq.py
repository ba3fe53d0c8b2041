"""Sequence-to-sequence training with teacher forcing and label smoothing (Vaswani et al. 2017).

``prepare`` turns a ``(source, target)`` batch (padded with ``PAD = -100``, as the pair
samplers give it) into the encoder-decoder inputs: the source with its padding mask, and the
target shifted right behind a start token as the decoder's input, predicting the target.

Label smoothing, section 5.4: "we employed label smoothing of value eps_ls = 0.1 [Szegedy et
al. 2016]. This hurts perplexity, as the model learns to be more unsure, but improves accuracy
and BLEU score." The target distribution is (1 - eps) on the reference token plus eps spread
uniformly over the K vocabulary entries (Szegedy et al. 2016, section 7), so the loss is
(1 - eps) * NLL + eps * mean_k(-log p_k). Parameter-free.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

PAD = -100  # padding of raw pair batches and the loss's ignore index: one value for both


def label_smoothed_nll(logits: torch.Tensor, targets: torch.Tensor, eps: float = 0.1,
                       ignore_index: int = PAD, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy against the smoothed target distribution; positions at ``ignore_index``
    count for nothing. ``reduction``: mean over counted positions, or sum."""
    logp = F.log_softmax(logits.reshape(-1, logits.shape[-1]).float(), dim=-1)
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    logp, targets = logp[keep], targets[keep]
    nll = -logp.gather(1, targets[:, None]).squeeze(1)
    loss = (1.0 - eps) * nll - eps * logp.mean(dim=-1) if eps else nll
    return loss.sum() if reduction == "sum" else loss.sum() / max(int(keep.sum()), 1)


class Seq2SeqLM:
    """Teacher-forced encoder-decoder training; ``eps`` = 0.1 as in section 5.4."""

    ignore_index = PAD

    def __init__(self, decoder_start_id: int, pad_id: int, eps: float = 0.1):
        if not 0.0 <= eps < 1.0:
            raise ValueError(f"label smoothing must lie in [0, 1), got {eps}")
        self.decoder_start_id, self.pad_id, self.eps = decoder_start_id, pad_id, eps

    def prepare(self, batch) -> dict:
        """``(source, target)`` -> ``input_ids``, ``attention_mask``, ``decoder_input_ids``,
        ``decoder_attention_mask``, ``labels`` (the target, PAD where nothing is predicted)."""
        source, target = batch
        source_mask = source != PAD
        target_mask = target != PAD
        start = target.new_full((target.shape[0], 1), self.decoder_start_id)
        decoder_input = torch.cat([start, target[:, :-1]], dim=1)
        decoder_mask = torch.cat([torch.ones_like(start, dtype=torch.bool), target_mask[:, :-1]], dim=1)
        return {
            "input_ids": source.masked_fill(~source_mask, self.pad_id),
            "attention_mask": source_mask.long(),
            "decoder_input_ids": decoder_input.masked_fill(~decoder_mask, self.pad_id),
            "decoder_attention_mask": decoder_mask.long(),
            "labels": target,
        }

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return label_smoothed_nll(logits, labels, self.eps, self.ignore_index, reduction)

    def nll(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The unsmoothed loss: what perplexity is measured on."""
        return label_smoothed_nll(logits, labels, 0.0, self.ignore_index, reduction)
