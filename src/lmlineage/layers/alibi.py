"""ALiBi (Press et al. 2022, "Train Short, Test Long"): no position embeddings; each head adds
``slope * (key position - query position)`` to its attention scores.

Because softmax ignores a per-row constant, ``slope * key position`` is the same bias; that
form needs only key positions, which follow the padding mask (left padding shifts them)."""

from __future__ import annotations

import math

import torch
from torch import nn


def alibi_slopes(n_head: int) -> torch.Tensor:
    """Geometric slopes 2^(-8/n), 2^(-16/n), ... for n a power of two; otherwise the slopes of
    the nearest lower power of two followed by every other slope of the next one (section 3)."""

    def power_of_two(n):
        start = 2 ** (-8 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_head).is_integer():
        return torch.tensor(power_of_two(n_head))
    lower = 2 ** math.floor(math.log2(n_head))
    return torch.tensor(power_of_two(lower) + power_of_two(2 * lower)[0::2][: n_head - lower])


class ALiBi(nn.Module):
    """``bidirectional`` (an encoder): keys on both sides of the query, so the bias is
    ``-slope * |key position - query position|`` in full (Press et al. 2022 define the causal case)."""

    def __init__(self, n_head: int, bidirectional: bool = False):
        super().__init__()
        self.bidirectional = bidirectional
        self.register_buffer("slopes", alibi_slopes(n_head), persistent=False)

    def forward(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        """The attention ``score_bias`` hook: (B, Tk) key positions -> (B, H, 1, Tk) bias; with
        ``bidirectional``, (B, Tq) query positions too -> (B, H, Tq, Tk)."""
        if self.bidirectional:
            distance = (k_positions[:, None, :] - q_positions[:, :, None]).abs().float()  # (B, Tq, Tk)
            return -self.slopes[None, :, None, None] * distance[:, None]
        return self.slopes[None, :, None, None] * k_positions[:, None, None, :].float()
