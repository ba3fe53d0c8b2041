"""A decoder LM with segment-level recurrence (Transformer-XL, Dai et al. 2019, section 3.2).

The model reads any input longer than ``cfg.segment`` tokens segment by segment, each segment's
layers attending to the gradient-stopped keys and values of the ``cfg.mem_len`` tokens before it
(``core.cache.XLMemory``): in training a window of several segments learns with the memory the
paper trains with; in evaluation a long text is scored with every token seeing up to ``mem_len``
earlier tokens per layer without recomputing them. Decoding keeps the same memory as its cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..core.cache import XLMemory
from ..core.config import ModelConfig
from ..core.errors import UserError
from .decoder import DecoderLM, DecoderOutput


@dataclass
class MemoryConfig(ModelConfig):
    """A model with an XL memory: ``mem_len`` cached tokens per layer, read in ``segment``-token pieces."""

    mem_len: int = 32
    segment: int = 32

    FLAT: ClassVar[dict] = {**ModelConfig.FLAT, "extra.mem_len": "mem_len", "extra.segment": "segment"}

    def validate(self, where: str = "") -> None:
        super().validate(where)
        if self.mem_len < 0:
            raise UserError(f"config mem_len must be >= 0, got {self.mem_len}", "0 is no memory")
        if self.segment < 1:
            raise UserError(f"config segment must be >= 1, got {self.segment}")


def check_mem_len(value) -> int:
    """``--mem-len``: a memory length of zero or more, else a one-line refusal."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UserError(f"--mem-len {value} is below zero", "give the number of tokens to remember: 0 or more")
    return value


class SegmentRecurrentLM(DecoderLM):
    """``DecoderLM`` whose forward without a cache goes segment by segment with an ``XLMemory``."""

    def new_cache(self, batch_size=1, max_length=None, static=False, dtype=None, device=None):
        if static:
            return super().new_cache(batch_size, max_length, static, dtype, device)
        return XLMemory(self.config.mem_len)

    @property
    def context_window(self) -> int | None:
        return None  # relative positions and a bounded memory: decoding goes on as long as asked

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None,
                output_hidden_states=False, logits_slice: int | None = None, prefix_lengths=None,
                output_attentions=False) -> DecoderOutput:
        segment, t = self.config.segment, input_ids.shape[1]
        if cache is not None or t <= segment:
            return super().forward(input_ids, attention_mask, position_ids, cache, output_hidden_states,
                                   logits_slice, prefix_lengths, output_attentions)
        if position_ids is not None or prefix_lengths is not None or output_attentions:
            raise ValueError("a segment-recurrent forward takes no position ids, prefixes or attentions")
        memory = XLMemory(self.config.mem_len)
        pieces = []
        for start in range(0, t, segment):
            end = min(start + segment, t)
            mask = attention_mask[:, :end] if attention_mask is not None else None
            pieces.append(super().forward(input_ids[:, start:end], mask, cache=memory,
                                          output_hidden_states=output_hidden_states))
        logits = torch.cat([p.logits for p in pieces], dim=1)
        states = None
        if output_hidden_states:
            states = tuple(torch.cat(layer, dim=1) for layer in zip(*(p.hidden_states for p in pieces)))
        return DecoderOutput(logits if logits_slice is None else logits[:, logits_slice:],
                             torch.cat([p.last_hidden_state for p in pieces], dim=1), states)
