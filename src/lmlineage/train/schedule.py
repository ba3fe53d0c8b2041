"""Learning-rate schedules as plain functions of the step (stateless, so resume is trivial)."""

import math


def warmup_cosine(step: int, *, lr: float, min_lr: float, warmup: int, total: int) -> float:
    """Linear warmup for ``warmup`` steps, then cosine decay to ``min_lr`` at ``total``
    (the GPT-3 / nanoGPT schedule)."""
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step >= total:
        return min_lr
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def inverse_sqrt(step: int, *, d_model: int, warmup: int, scale: float = 1.0) -> float:
    """Vaswani et al. 2017, eq. 3: d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)."""
    step = step + 1
    return scale * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def inverse_sqrt_peak(step: int, *, lr: float, warmup: int) -> float:
    """Eq. 3 scaled so that its peak, at ``step == warmup``, is ``lr``: linear warmup, then decay
    with the inverse square root of the step. ``lr = (d_model * warmup) ** -0.5`` gives the
    paper's schedule exactly (base model, d_model 512, warmup 4000: 7.0e-4)."""
    return inverse_sqrt(step, d_model=1, warmup=warmup, scale=lr * math.sqrt(warmup))
