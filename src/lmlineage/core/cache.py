"""Key/value caches for incremental decoding, behind one small protocol:

``cache.update(layer, k, v) -> (k_all, v_all)``, ``cache.length`` (tokens already cached),
``cache.advance(t)`` after each forward, ``cache.key_slots(t)`` (how many key slots the
layers will see), ``cache.indices(t, device)`` (the places in the sequence of the ``t`` new
queries and of the keys the layers will see, padding counted, as device tensors: what causal and
banded masks are built from) and ``cache.reorder(index)`` (beam search keeps surviving
hypotheses: row i of the reordered cache is row ``index[i]`` of the old one, so it also expands
a batch to beams, or drops rows). ``DynamicCache`` also takes rows in and pads them on the left
(``append_rows``, ``pad_left``, ``drop_left``): what a server's continuous batching needs.

``DynamicCache`` grows; ``StaticCache`` is pre-allocated (compiled decoding); ``RollingCache``
keeps only the last keys a sliding window can still see; ``XLMemory`` is Transformer-XL's memory,
the last ``mem_len`` keys and values of the segments before, gradient-stopped.

An encoder-decoder model's cache (``EncoderDecoderCache``) pairs the decoder's self-attention
cache with a ``CrossCache``: the cross-attention keys and values depend on the source only, so
they are projected from the encoder output once, at the first decoder step, and reused.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class DynamicCache:
    """Grows by concatenation; simple and right for eager decoding."""

    def __init__(self):
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    @property
    def length(self) -> int:
        return self.keys[0].shape[-2] if self.keys else 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat([self.keys[layer], k], dim=-2)
            self.values[layer] = torch.cat([self.values[layer], v], dim=-2)
        return self.keys[layer], self.values[layer]

    def advance(self, t: int) -> None:
        pass  # the length is read off the tensors

    def key_slots(self, t: int) -> int:
        return self.length + t

    def indices(self, t: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        keys = torch.arange(self.length + t, device=device)
        return keys[self.length:], keys

    def reorder(self, index: torch.Tensor) -> None:
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]

    # Rows that come and go (continuous batching): every row's tokens end at the last slot, so a
    # shorter row is left-padded, and the attention mask the caller keeps marks the padding.

    def pad_left(self, n: int) -> None:
        """Put ``n`` empty slots before every row's keys (the caller masks them out)."""
        if n:
            self.keys = [F.pad(k, (0, 0, n, 0)) for k in self.keys]
            self.values = [F.pad(v, (0, 0, n, 0)) for v in self.values]

    def drop_left(self, n: int) -> None:
        """Forget the first ``n`` slots (padding in every row once its longest row has left)."""
        if n:
            self.keys = [k[..., n:, :] for k in self.keys]
            self.values = [v[..., n:, :] for v in self.values]

    def append_rows(self, other: DynamicCache) -> None:
        """Add ``other``'s rows after these; both hold the same number of slots."""
        if not self.keys:
            self.keys, self.values = list(other.keys), list(other.values)
            return
        if other.length != self.length:
            raise ValueError(f"cannot join rows of {other.length} slots to rows of {self.length}: pad the shorter")
        self.keys = [torch.cat([a, b]) for a, b in zip(self.keys, other.keys)]
        self.values = [torch.cat([a, b]) for a, b in zip(self.values, other.values)]


class RollingCache:
    """Keeps the last ``window - 1`` keys and values of each layer and drops the rest: when every
    layer attends within a sliding window of ``window`` tokens (itself and ``window - 1`` before
    it), nothing older is read again, so memory stays flat however long decoding goes on
    (Jiang et al. 2023, Mistral 7B, section 2, "Rolling Buffer Cache"). Left padding works as
    with ``DynamicCache``: the attention mask covers every token so far, the layers see its end."""

    def __init__(self, window: int):
        self.window = window
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.length = 0  # tokens seen so far, kept or dropped

    @property
    def kept(self) -> int:
        return min(self.length, self.window - 1)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        if layer == len(self.keys):
            self.keys.append(k[..., :0, :])
            self.values.append(v[..., :0, :])
        k_all = torch.cat([self.keys[layer], k], dim=-2)
        v_all = torch.cat([self.values[layer], v], dim=-2)
        self.keys[layer], self.values[layer] = self._last(k_all), self._last(v_all)
        return k_all, v_all

    def _last(self, x: torch.Tensor) -> torch.Tensor:
        drop = max(x.shape[-2] - (self.window - 1), 0)
        # A copy, so the dropped keys' memory is freed (a slice would hold all of ``x``).
        return x[..., drop:, :].clone() if drop else x

    def advance(self, t: int) -> None:
        self.length += t

    def key_slots(self, t: int) -> int:
        return self.kept + t

    def indices(self, t: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        keys = torch.arange(self.length - self.kept, self.length + t, device=device)
        return keys[self.kept:], keys

    def reorder(self, index: torch.Tensor) -> None:
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]


class XLMemory(RollingCache):
    """Transformer-XL's segment-level recurrence (Dai et al. 2019, section 3.2): each layer attends
    to the hidden states of the previous segment(s), cached with the gradient stopped,
    h~ = [SG(m^{n-1}), h^{n-1}]. Keys and values are position-wise linear maps of those states, so
    keeping the last ``mem_len`` keys and values is keeping the states: the next segment's
    attention reads them without recomputing (what makes evaluation fast, section 3.2).

    Unlike a sliding window the current segment's queries see the whole memory and every earlier
    key of their segment, so a query reaches ``mem_len`` + its place in the segment tokens back
    in one layer (``mem_len * n_layer`` through the stack)."""

    def __init__(self, mem_len: int):
        super().__init__(mem_len + 1)  # the rolling cache keeps window - 1
        self.mem_len = mem_len

    def _last(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., max(x.shape[-2] - self.mem_len, 0):, :].detach()  # SG(.): no gradient into the past


class StaticCache:
    """Pre-allocated buffers of ``max_length`` tokens, so shapes never change (CUDA graphs,
    torch.compile). Unfilled slots and left padding are masked out by ``begin``'s key mask.

    The write offset lives on the device (``position``) as well as on the host (``length``):
    everything a forward pass reads to place and mask its keys comes from device tensors, so
    one captured decoding step replays correctly at every later position."""

    def __init__(self, n_layer, batch, kv_heads, max_length, head_dim, dtype=torch.float32, device=None):
        shape = (batch, kv_heads, max_length, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.max_length = max_length
        self.length = 0  # host mirror of ``position``, advanced by the model after each forward
        self.position = torch.zeros((), dtype=torch.long, device=device)
        self.real = torch.ones(batch, max_length, dtype=torch.bool, device=device)  # False at padding
        self._slots = None

    def begin(self, t: int, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Start a forward of ``t`` new tokens: fix their slots, record their padding (the last
        ``t`` columns of ``attention_mask``) and return the (B, max_length) real-key mask."""
        device = self.position.device
        self._slots = self.position + torch.arange(t, device=device)
        if attention_mask is not None:
            self.real.index_copy_(1, self._slots, attention_mask[:, -t:].to(device=device, dtype=torch.bool))
        return self.real & (torch.arange(self.max_length, device=device) < self.position + t)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        self.keys[layer].index_copy_(2, self._slots, k)
        self.values[layer].index_copy_(2, self._slots, v)
        return self.keys[layer], self.values[layer]

    def advance(self, t: int) -> None:
        self.length += t
        self.position += t

    def key_slots(self, t: int) -> int:
        if self.length + t > self.max_length:
            raise ValueError(f"static cache holds {self.max_length} tokens, asked for {self.length + t}")
        return self.max_length

    def indices(self, t: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """From the device offset, never the host mirror: a captured step replays at later places."""
        device = self.position.device
        return self.position + torch.arange(t, device=device), torch.arange(self.max_length, device=device)

    def reorder(self, index: torch.Tensor) -> None:
        for buffers in (self.keys, self.values):
            for i, b in enumerate(buffers):
                buffers[i] = b.index_select(0, index)
        self.real = self.real.index_select(0, index)


class CrossCache:
    """Per-layer cross-attention (k, v), filled at the first decoder step of a generation."""

    def __init__(self):
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}

    def get(self, layer: int):
        """(k, v) of ``layer``, or None before the first step."""
        return (self.keys[layer], self.values[layer]) if layer in self.keys else None

    def put(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        self.keys[layer], self.values[layer] = k, v

    def reorder(self, index: torch.Tensor) -> None:
        self.keys = {i: k.index_select(0, index) for i, k in self.keys.items()}
        self.values = {i: v.index_select(0, index) for i, v in self.values.items()}


class EncoderDecoderCache:
    """The decoder's self-attention cache (dynamic or static) plus its cross-attention cache."""

    def __init__(self, self_attention):
        self.self_attention = self_attention
        self.cross = CrossCache()

    @property
    def length(self) -> int:
        return self.self_attention.length

    def reorder(self, index: torch.Tensor) -> None:
        self.self_attention.reorder(index)
        self.cross.reorder(index)
