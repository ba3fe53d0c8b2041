"""The input side of every Transformer stack: token embeddings, the position scheme, segments,
a scale, a norm, dropout and a factorized projection, in that order.

- tokens: one row per vocabulary entry, ``cfg.embedding.dim`` wide (default d_model);
- scale: times sqrt(d_model) (Vaswani et al. 2017, section 3.4; CTRL) with ``cfg.embedding.scale``;
- positions: the table of an absolute scheme, added; a relative scheme's attention hooks are
  built here too, once per stack, and handed to every layer (``rotary``, ``score_bias``, ``score_mod``);
- segments: BERT's sentence A/B (``cfg.embedding.type_vocab_size`` rows);
- norm: right after the sum (BERT, BLOOM) with ``cfg.norm.after_embeddings``;
- projection: from ``embedding.dim`` up to d_model when they differ (ALBERT, ELECTRA).

A stack is this module extended with its blocks (``blocks/stack.py``), so the parts keep the
names checkpoints store them under (``embed_tokens``, ``embed_positions``, ...).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.config import ModelConfig
from ..core.errors import UserError
from .norm import make_norm
from .positions import HOOKS, POSITIONS


class Embeddings(nn.Module):
    """``positions``: the names of the position schemes (``layers.positions.POSITIONS``), at most
    one table among them and at most one scheme per attention hook; ``causal``: the direction
    the stack reads in, which a relative scheme's hook depends on (T5's buckets, ALiBi);
    ``tokens``: whether it has a token table (an image model embeds patches itself: layers/patches.py)."""

    def __init__(self, cfg: ModelConfig, causal: bool, positions: tuple[str, ...], tokens: bool = True):
        super().__init__()
        unknown = [name for name in positions if name not in POSITIONS]
        if unknown:
            raise UserError(f"position scheme {unknown[0]!r} is unknown", f"choose from {', '.join(POSITIONS)}")
        schemes = [POSITIONS[name] for name in positions]
        hooks: dict[str, nn.Module] = {}
        for name, scheme in zip(positions, schemes):
            for hook, module in (scheme.hooks(cfg, causal) if scheme.hooks else {}).items():
                if hook in hooks:
                    raise UserError(f"position schemes {', '.join(positions)}: two of them fill attention's {hook}")
                hooks[hook] = module
        tables = [(name, s.table) for name, s in zip(positions, schemes) if s.table is not None]
        if len(tables) > 1:
            raise UserError(f"position schemes {', '.join(n for n, _ in tables)}: at most one table is added")
        # Registered first (the order initialisation visits them in); every layer gets them from here.
        self.rotary, self.score_bias, self.score_mod = (hooks.get(name) for name in HOOKS)
        self.scale = math.sqrt(cfg.d_model) if cfg.embedding.scale else None
        width = cfg.embedding.dim or cfg.d_model
        # tokens=False: no table; the model embeds its own inputs (image patches) and hands them to the stack
        self.embed_tokens = nn.Embedding(cfg.vocab_size, width) if tokens else None
        self.embed_positions = tables[0][1](cfg, width) if tables else None
        self.embed_segments = nn.Embedding(cfg.embedding.type_vocab_size,
                                           width) if cfg.embedding.type_vocab_size else None
        self.embed_norm = make_norm(cfg.norm.kind, width, cfg.norm.eps, cfg.bias) if cfg.norm.after_embeddings else None
        self.embed_proj = nn.Linear(width, cfg.d_model) if width != cfg.d_model else None
        self.drop = nn.Dropout(cfg.dropout)

    def embed(self, input_ids, position_ids, token_type_ids=None) -> torch.Tensor:
        """(B, T) ids, (B or 1, T) positions (GLM: (B, 2, T)), (B, T) segment ids or None -> (B, T, d_model)."""
        x = self.embed_tokens(input_ids)
        if self.scale is not None:
            x = x * self.scale
        if self.embed_positions is not None:
            x = x + self.embed_positions(position_ids)
        if self.embed_segments is not None:
            segments = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            x = x + self.embed_segments(segments)
        if self.embed_norm is not None:
            x = self.embed_norm(x)
        x = self.drop(x)
        if self.embed_proj is not None:
            x = self.embed_proj(x)
        return x
