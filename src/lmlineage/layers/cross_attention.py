"""Encoder-decoder ("cross") attention (Vaswani et al. 2017, section 3.2.3): the queries come
from the decoder, the keys and values from the encoder output.

The shared ``Attention`` with its one fused q/k/v projection split in two: ``q`` reads the
decoder stream, ``kv`` (k and v fused) the encoder's. Scores, masking and both backends are
``Attention``'s own ``_attend``. The keys and values depend on the source alone, so with a
``CrossCache`` they are projected once per generation, at the first decoder step.
"""

from __future__ import annotations

from torch import nn

from .attention import Attention, projected


class CrossAttention(Attention):
    def __init__(self, dim: int, n_head: int, kv_heads: int, head_dim: int, bias: bool = True,
                 dropout: float = 0.0, layer: int = 0, scale: float | None = None, memory_dim: int | None = None,
                 qkv_bias: bool | None = None):
        """``qkv_bias``: whether q and kv have biases (None: as ``bias``; the U-Net's have none)."""
        super().__init__(dim, n_head, kv_heads, head_dim, bias, dropout, layer, scale=scale)
        del self.qkv  # split: the queries and the keys/values read different streams
        in_bias = bias if qkv_bias is None else qkv_bias
        self.q = nn.Linear(dim, n_head * head_dim, bias=in_bias)
        self.kv = nn.Linear(memory_dim or dim, 2 * kv_heads * head_dim, bias=in_bias)

    def forward(self, x, memory, mask=None, cache=None, query_offset=None, memory_offset=None):
        """``x`` (B, T, dim) decoder states; ``memory`` (B, S, memory_dim) encoder output;
        ``mask`` (B, 1, 1, S) boolean, True at real source tokens, or None. ``query_offset``
        (B, T, dim) and ``memory_offset`` (B, S, memory_dim): added to the input of the queries and
        of the keys, not the values (DETR's object query and image positions)."""
        b, t, _ = x.shape
        q = self.q(x if query_offset is None else x + query_offset).view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        cached = cache.get(self.layer) if cache is not None else None
        if cached is None:
            s = memory.shape[1]
            if memory_offset is None:
                k, v = self.kv(memory).view(b, s, 2, self.kv_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            else:
                width = self.kv_heads * self.head_dim
                k, v = (projected(self.kv, m, start, start + width).view(b, s, self.kv_heads, self.head_dim)
                        .transpose(1, 2) for m, start in ((memory + memory_offset, 0), (memory, width)))
            if cache is not None:
                cache.put(self.layer, k, v)
        else:
            k, v = cached
        y = self._attend(q, k, v, mask, False)
        return self.out(y.transpose(1, 2).reshape(b, t, self.n_head * self.head_dim))
