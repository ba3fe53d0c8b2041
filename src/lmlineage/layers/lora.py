"""LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", section 4.1): a
frozen weight W0 is adapted as W0 + (alpha / r) B A, with A (r, in) and B (out, r) the only
trained parameters; B starts at zero, so the adapted model starts as the base model.

The adapter sits beside the model, not in it: a forward hook on each adapted ``nn.Linear`` adds
``scale * B(A(dropout(x)))`` to its output, so the model's parameters and their names stay as
they were (its checkpoint is unchanged) and the adapter saves apart. One Linear may carry several
low-rank parts, each writing a subset of its output rows: our fused q/k/v projection adapted as
the reference's separate q_proj and v_proj.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRAPart(nn.Module):
    """One low-rank update ``scale * B A`` of the rows ``rows`` (None: all) of a Linear's output."""

    def __init__(self, in_features: int, out_features: int, r: int, alpha: float, rows: torch.Tensor | None,
                 dropout: float = 0.0):
        super().__init__()
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear's weight; B = 0 keeps W0 at first
        self.scale = alpha / r
        self.register_buffer("rows", rows, persistent=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        return (self.dropout(x) @ self.lora_A.to(x.dtype).t()) @ self.lora_B.to(x.dtype).t() * self.scale

    def weight_delta(self) -> torch.Tensor:
        return self.scale * (self.lora_B @ self.lora_A)


class LoRALinear(nn.Module):
    """The parts adapting one Linear; ``attach`` hooks them onto it, ``merge`` folds them into its weight."""

    def __init__(self, parts: list[LoRAPart]):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self._hook = None

    def add_to(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            d = part.delta(x)
            out = out + d if part.rows is None else out.index_add(-1, part.rows, d)
        return out

    def attach(self, linear: nn.Linear) -> None:
        self._hook = linear.register_forward_hook(lambda module, args, out: self.add_to(out, args[0]))

    def detach(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    @torch.no_grad()
    def merge_into(self, linear: nn.Linear) -> None:
        """W0 += scale * B A for every part; the hook is removed (the weight now holds the update)."""
        self.detach()
        for part in self.parts:
            d = part.weight_delta().to(linear.weight.dtype)
            if part.rows is None:
                linear.weight += d
            else:
                linear.weight.index_add_(0, part.rows, d)
