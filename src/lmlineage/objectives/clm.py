"""Causal language modelling: predict each next token (Bengio et al. 2003; Radford et al. 2018).

An objective owns no parameters: ``prepare`` shapes the batch, ``loss`` scores outputs."""

from __future__ import annotations

import torch
from torch.nn import functional as F


class CausalLM:
    ignore_index = -100

    def prepare(self, batch):
        """(inputs, targets) windows are already shifted by the sampler."""
        return batch

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
            ignore_index=self.ignore_index, reduction=reduction,
        )
