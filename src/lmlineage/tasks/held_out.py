"""What the corrupting tasks' ``evaluate`` share: the same corruption on every call (a fixed seed),
and per-batch sums added up over the validation split before any ratio is taken."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from ..core.errors import UserError

EVAL_SEED = 0


def add_up_totals(forward: Callable, batches: Iterable, *, generator_on_batch_device: bool = True,
                  skip: Callable[[torch.Tensor], bool] = lambda windows: False) -> dict:
    """Sum ``forward((windows, targets), generator=..., totals=True)`` over ``batches``, key by key.
    One generator, seeded with :data:`EVAL_SEED` and created with the first batch (on its device, or
    on the CPU where the corruption is drawn there), serves every batch. Batches ``skip`` rejects
    are left out."""
    generator, totals = None, {}
    for windows, targets in batches:
        if skip(windows):
            continue
        if generator is None:
            device = windows.device if generator_on_batch_device else "cpu"
            generator = torch.Generator(device).manual_seed(EVAL_SEED)
        for key, value in forward((windows, targets), generator=generator, totals=True).items():
            totals[key] = totals[key] + value if key in totals else value
    if not totals:
        raise UserError("the validation split is too short to evaluate", "use a larger corpus")
    return totals
