"""Batches from a token stream (a numpy memmap): random windows for training, packed
consecutive windows for evaluation over a whole split.

Samplers own their random generator, so the data position is part of a checkpoint and a
resumed run draws exactly the batches the uninterrupted run would have drawn.
"""

from __future__ import annotations

import numpy as np
import torch


def _window_stack(tokens, starts, length):
    rows = [np.asarray(tokens[s : s + length], dtype=np.int64) for s in starts]
    return torch.from_numpy(np.stack(rows))


class RandomWindows:
    """nanoGPT-style batches: ``batch_size`` windows at uniformly random offsets; targets are
    the inputs shifted by one token."""

    def __init__(self, tokens, context: int, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1):
        # Every rank draws the same global batch and keeps its slice of rows: N processes train
        # on exactly what one process with the global batch would (the distributed sampler).
        self.tokens, self.context, self.batch_size = tokens, context, batch_size
        self.rows = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
        self.high = len(tokens) - context - 1
        if self.high < 1:
            raise ValueError(f"{len(tokens)} tokens cannot fill a window of {context + 1}")
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return self

    def __next__(self):
        starts = torch.randint(self.high + 1, (self.batch_size,), generator=self.generator).tolist()[self.rows]
        block = _window_stack(self.tokens, starts, self.context + 1)
        return block[:, :-1], block[:, 1:]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def packed_window_batches(n_tokens: int, context: int, batch_size: int, max_batches: int | None = None) -> int:
    """How many batches ``packed_windows`` yields for a split of ``n_tokens`` tokens."""
    if n_tokens < 2:
        return 0
    starts = -(-(n_tokens - 1) // context)
    if max_batches is not None:
        starts = min(starts, max_batches * batch_size)
    full = min(starts, (n_tokens - 1) // context)
    return -(-full // batch_size) + (starts > full)


def packed_windows(tokens, context: int, batch_size: int, max_batches: int | None = None):
    """Consecutive non-overlapping windows covering the split once: every token after the
    first is predicted exactly once (the last partial window included)."""
    n = len(tokens) - 1
    starts = list(range(0, n, context))
    if max_batches is not None:
        starts = starts[: max_batches * batch_size]
    full = [s for s in starts if s + context <= n]
    for i in range(0, len(full), batch_size):
        block = _window_stack(tokens, full[i : i + batch_size], context + 1)
        yield block[:, :-1], block[:, 1:]
    tail = [s for s in starts if s + context > n]
    if tail:
        s = tail[0]
        block = torch.from_numpy(np.asarray(tokens[s:], dtype=np.int64))[None]
        yield block[:, :-1], block[:, 1:]
