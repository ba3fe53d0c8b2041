"""Logits processors: each takes (logits (B, V), generated ids (B, T)) and returns logits."""

from __future__ import annotations

import math

import torch

from ..core.errors import UserError


def check_sampling(temperature: float, top_k: int | None, top_p: float | None, repetition_penalty: float) -> None:
    for name, value in (("temperature", temperature), ("top_p", top_p), ("repetition_penalty", repetition_penalty)):
        if value is not None and not math.isfinite(value):
            raise UserError(f"{name} must be a finite number, got {value}")
    if temperature < 0 or 0 < temperature < 1e-6:
        raise UserError(f"temperature must be 0 or at least 1e-6, got {temperature}", "use 0 for greedy decoding")
    if top_k is not None and top_k < 0:
        raise UserError(f"top_k must be >= 0, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError(f"top_p must lie in (0, 1], got {top_p}")
    if repetition_penalty <= 0:
        raise UserError(f"repetition_penalty must be > 0, got {repetition_penalty}")


def repetition_penalty(logits, seen, penalty: float):
    """CTRL (Keskar et al. 2019): divide positive logits of seen tokens by the penalty, multiply negatives."""
    if penalty == 1.0 or seen.numel() == 0:
        return logits
    picked = logits.gather(1, seen)
    picked = torch.where(picked > 0, picked / penalty, picked * penalty)
    big = torch.finfo(picked.dtype).max  # an extreme penalty must not turn logits into inf (then nan)
    return logits.scatter(1, seen, picked.clamp(-big, big))


def top_k(logits, k: int):
    if not k or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p(logits, p: float):
    """Nucleus sampling (Holtzman et al. 2020): keep the smallest set whose mass reaches p."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    cumulative = sorted_logits.softmax(-1).cumsum(-1)
    drop_sorted = cumulative - sorted_logits.softmax(-1) >= p  # mass before this token already reaches p
    drop_sorted[:, 0] = False  # the most likely token always stays, however small p is
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def pick(logits, seen, temperature: float, top_k_: int | None, top_p_: float | None, penalty: float,
         generator: torch.Generator | None = None):
    """The next token of each row (B,): the repetition penalty over ``seen`` (B, T; may be None
    when ``penalty`` is 1), then the argmax when ``temperature`` is 0, else a draw from the
    tempered, top-k and top-p filtered distribution with ``generator``."""
    if penalty != 1.0:
        logits = repetition_penalty(logits.float(), seen, penalty)
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits - logits.max(-1, keepdim=True).values  # best at 0: a small temperature can't overflow
    logits = top_p(top_k(logits / temperature, top_k_ or 0), top_p_ or 1.0)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
