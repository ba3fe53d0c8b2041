"""The trivial baselines a task's held-out metric is read against: what a model that ignores
context scores on the very tokens it had to predict."""

from __future__ import annotations

import math

import torch


def unigram_entropy(counts: torch.Tensor) -> float:
    """Nats per token of the best unigram model of the counted tokens (their empirical entropy):
    no context-free predictor scores lower on them. NaN when nothing was counted."""
    counts = counts[counts > 0].double()
    share = counts / counts.sum()
    return float(-(share * share.log()).sum()) if len(share) else math.nan


def most_frequent_share(counts: torch.Tensor) -> float:
    """Accuracy of always predicting the most frequent of the counted tokens."""
    total = int(counts.sum())
    return int(counts.max()) / total if total else math.nan
