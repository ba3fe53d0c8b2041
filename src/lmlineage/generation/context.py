"""Generation past a model's context.

A decoder whose positions come from a table (learned or sinusoidal, ``max_positions`` rows: GPT,
GPT-2, CTRL, GPT-3, GLM) cannot encode position ``max_positions``. As nanoGPT's ``generate`` does,
each next token is then predicted from the last ``max_positions`` tokens, re-read at positions
0, 1, ...: while the sequence fits, the engine decodes through its KV cache; from the first token
past the window on, every step runs one forward over the last window without a cache (the
positions of every kept token shift, so no cached key stays valid). A prompt longer than the
window is read from its last ``max_positions`` tokens. Cached and uncached decoding therefore
give the same tokens all the way.

Relative positions (RoPE, ALiBi) have no table: such a model decodes on as far as its cache
holds (a static cache is sized to prompt + new tokens), past the length it was trained on.
"""

from __future__ import annotations

import torch

from ..core import masks


def window_of(model) -> int | None:
    """``model.context_window``: the most tokens one forward may read (a position table's rows),
    or None where only the cache bounds it (relative positions, recurrent models)."""
    return getattr(model, "context_window", None)


def last_window(ids: torch.Tensor, mask: torch.Tensor, window: int | None):
    """The last ``window`` columns of left-padded ``ids`` and their ``mask`` (all of them when
    ``window`` is None or they fit), with position ids counted from the first real token in them."""
    if window is not None and ids.shape[1] > window:
        ids, mask = ids[:, -window:], mask[:, -window:]
    return ids, mask, masks.positions(mask)


def last_window_logits(model, ids: torch.Tensor, mask: torch.Tensor, window: int | None) -> torch.Tensor:
    """The next-token logits (B, V) of one forward over the last ``window`` tokens, no cache."""
    ids, mask, positions = last_window(ids, mask, window)
    return model(ids, attention_mask=None if bool(mask.all()) else mask, position_ids=positions,
                 logits_slice=-1).logits[:, -1]
