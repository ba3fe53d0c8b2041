"""XLNet's two-stream self-attention (Yang et al. 2019, section 2.3) over the shared blocks.

Two streams share every weight: the content stream h (a token's own embedding, as in any
Transformer) and the query stream g, which starts from one learned vector w (``mask_emb``) at
the positions to predict, so a prediction knows where it is but not what is there. Under a
factorization order z, the content at z_t may read the content of z_1..z_t (itself included),
the query at z_t only z_1..z_{t-1} (figure 1). Both streams read the memory of the segments
before (Transformer-XL's, ``core.cache.XLMemory``, content only) and use relative positions and
relative segments (``layers/relative_attention.py``).

Done with one attention call per layer: the streams are laid side by side in time, [h; g],
with one boolean mask, so the shared attention, block (post-LN residuals, feed-forward) and
hooks run unchanged. The query rows' keys are masked everywhere (no one reads the query stream)
and only the content rows' keys and values enter the memory.

``perm_mask[b, i, j] = 1``: token i may not read token j (as ``transformers`` takes it).
``target_mapping`` (B, M, T) is one-hot: the m-th prediction is at position argmax; each
prediction's query row then takes that position's place and mask row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..core import masks
from ..core.cache import XLMemory
from ..core.config import ModelConfig
from ..core.errors import UserError
from ..heads.registry import HEADS
from ..blocks.init import init_weights
from ..blocks.stack import Stack
from .capabilities import ModelCapabilities


@dataclass
class TwoStreamOutput:
    logits: torch.Tensor  # (B, M, vocab) at the predictions with a target mapping, else (B, T, vocab) of h
    last_hidden_state: torch.Tensor  # the content stream (B, T, d)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # the content stream: embeddings, then each block's
    query_states: tuple[torch.Tensor, ...] | None = None  # the query stream, the same way (with a target mapping)


class _ContentMemory:
    """The cache protocol's ``update`` for the side-by-side streams: the first ``content`` rows'
    keys and values go through the memory; the query rows' follow, unread (masked)."""

    def __init__(self, memory: XLMemory, content: int):
        self.memory, self.content = memory, content

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        c = self.content
        k_all, v_all = self.memory.update(layer, k[:, :, :c], v[:, :, :c])
        return torch.cat([k_all, k[:, :, c:]], dim=2), torch.cat([v_all, v[:, :, c:]], dim=2)


def prediction_places(target_mapping: torch.Tensor) -> torch.Tensor:
    """(B, M, T) one-hot rows -> (B, M) positions; anything but one-hot rows is refused."""
    ones = (target_mapping == 1).sum(-1)
    if not bool(((target_mapping == 0) | (target_mapping == 1)).all()) or not bool((ones == 1).all()):
        raise UserError("target_mapping rows must be one-hot (each prediction at one position)")
    return target_mapping.argmax(-1)


class TwoStreamLM(ModelCapabilities, nn.Module):
    def text_refusal(self) -> tuple[str, str]:
        return ("model trained to predict chosen positions (permutation LM), not to continue text",
                "score it with lmlineage eval")

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.backbone = Stack(cfg, causal=False)
        self.backbone.mask_emb = nn.Parameter(torch.zeros(1, 1, cfg.d_model))  # w, the query stream's start
        for layer in self.backbone.layers:  # XLNet's o is a bare (d_model, heads, head_dim) tensor: no bias
            layer.attn.out.register_parameter("bias", None)
        self.lm_head = HEADS["lm_head"].build(cfg)
        self.apply(partial(init_weights, cfg=cfg))
        nn.init.normal_(self.backbone.mask_emb, std=cfg.init.std)
        if cfg.embedding.tie:
            self.lm_head.tie(self.backbone.embed_tokens)

    tokenizer = None  # set by ``lmlineage.load`` when the checkpoint carries one

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    def new_cache(self, **_) -> XLMemory:
        return XLMemory(self.config.mem_len)

    def forward(self, input_ids, attention_mask=None, perm_mask=None, target_mapping=None, token_type_ids=None,
                cache: XLMemory | None = None, output_hidden_states=False) -> TwoStreamOutput:
        """``attention_mask`` (B, T): 1 at real tokens; ``cache``: the memory, extended in place."""
        b, t = input_ids.shape
        device = input_ids.device
        stack = self.backbone
        h = stack.embed(input_ids, None)
        past = cache.kept if cache is not None else 0
        segments = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        places = past + torch.arange(t, device=device).expand(b, t)
        # may[b, i, j]: token i may read token j (padding and the factorization order)
        may = torch.ones(b, t, t, dtype=torch.bool, device=device)
        if attention_mask is not None:
            may = may & attention_mask.bool()[:, None, :]
        if perm_mask is not None:
            may = may & ~perm_mask.bool()
        content_rows = may | torch.eye(t, dtype=torch.bool, device=device)  # content always reads itself
        rows, row_places, row_segments = [content_rows], [places], [segments]
        g = None
        if target_mapping is not None:
            at = prediction_places(target_mapping)  # (B, M)
            g = stack.drop(stack.mask_emb.expand(b, at.shape[1], -1))
            rows.append(may.gather(1, at[:, :, None].expand(-1, -1, t)))
            row_places.append(places.gather(1, at))
            row_segments.append(segments.gather(1, at))
        m = 0 if g is None else g.shape[1]
        read = torch.cat(rows, dim=1)  # (B, T + M, T)
        keep = torch.cat([read.new_ones(b, t + m, past), read, read.new_zeros(b, t + m, m)], dim=-1)
        keep = masks.never_empty(keep[:, None])
        query_places = torch.stack([torch.cat(row_places, 1), torch.cat(row_segments, 1)], dim=1)  # (B, 2, T + M)
        memory_places = torch.arange(past, device=device).expand(b, past)
        key_places = torch.stack([torch.cat([memory_places, query_places[:, 0]], 1),
                                  torch.cat([torch.zeros_like(memory_places), query_places[:, 1]], 1)], dim=1)
        view = None if cache is None else _ContentMemory(cache, t)
        x = h if g is None else torch.cat([h, g], dim=1)
        states = [x] if output_hidden_states else None
        for layer in stack.layers:
            x = layer(x, mask=keep, is_causal=False, positions=query_places, key_positions=key_places, cache=view)
            if states is not None:
                states.append(x)
        if cache is not None:
            cache.advance(t)
        content, query = x[:, :t], x[:, t:]
        logits = self.lm_head(stack.drop(query if g is not None else content))
        return TwoStreamOutput(
            logits, content,
            tuple(s[:, :t] for s in states) if states is not None else None,
            tuple(s[:, t:] for s in states) if states is not None and g is not None else None,
        )
