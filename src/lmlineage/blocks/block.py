"""The Transformer block with its three residual layouts.

- ``pre``  (GPT-2, LLaMA):     x = x + attn(norm1(x));  x = x + mlp(norm2(x))
- ``post`` (Vaswani, BERT, GPT-1): x = norm1(x + attn(x)); x = norm2(x + mlp(x))
- ``parallel`` (GPT-NeoX):  x = x + attn(norm1(x)) + mlp(norm2(x))
- ``parallel_shared_norm`` (GPT-J, PaLM): h = norm1(x); x = x + attn(h) + mlp(h)

A decoder block of an encoder-decoder model has a third sub-layer between the two, attention
over the encoder output (Vaswani et al. 2017, section 3.1), normed and residual like the others:
pre: x = x + cross(norm_c(x), enc); post: x = norm_c(x + cross(x, enc)).
"""

from __future__ import annotations

from torch import nn

from ..core.config import ModelConfig
from ..core.errors import UserError
from ..layers.attention import Attention
from ..layers.cross_attention import CrossAttention
from ..layers.moe import feed_forward
from ..layers.norm import make_norm


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int, qk_transform=None, score_bias=None, score_mod=None,
                 cross_attention=False, memory_dim: int | None = None):
        """``memory_dim``: the width of what cross-attention reads (None: ``d_model``; a U-Net's
        text states)."""
        super().__init__()
        self.residual = cfg.norm.placement
        self.attn_norm = make_norm(cfg.norm.kind, cfg.d_model, cfg.norm.eps, cfg.bias)
        self.attn = Attention(
            cfg.d_model, cfg.attention.n_head, cfg.attention.kv_heads, cfg.attention.dim_head(cfg.d_model), cfg.bias,
            cfg.dropout, layer,
            qk_transform=qk_transform, score_bias=score_bias, qkv_bias=cfg.attention.qkv_bias, score_mod=score_mod,
            scale=cfg.attention.scale,  # None: 1/sqrt(head_dim); T5 folds it into its initialisation (1.0)
        )
        self.cross_attn = None
        if cross_attention:
            if cfg.norm.placement not in ("pre", "post"):
                raise UserError(f"config residual={cfg.norm.placement!r} has no cross-attention layout",
                                "encoder-decoder models use residual pre or post")
            self.cross_norm = make_norm(cfg.norm.kind, cfg.d_model, cfg.norm.eps, cfg.bias)
            self.cross_attn = CrossAttention(cfg.d_model, cfg.attention.n_head, cfg.attention.kv_heads,
                                             cfg.attention.dim_head(cfg.d_model), cfg.bias,
                                             cfg.dropout, layer, scale=cfg.attention.scale, memory_dim=memory_dim,
                                             qkv_bias=cfg.attention.qkv_bias)
        shared = cfg.norm.placement == "parallel_shared_norm"
        self.mlp_norm = None if shared else make_norm(cfg.norm.kind, cfg.d_model, cfg.norm.eps, cfg.bias)
        self.mlp = feed_forward(cfg, layer)  # dense, or mixture of experts where the config says
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, encoder_out=None, encoder_mask=None, cross_cache=None, offset=None, memory_offset=None,
                **attn_args):
        """``encoder_out`` (B, S, d), ``encoder_mask`` (B, 1, 1, S) or None, ``cross_cache``: the
        cross-attention inputs, used by blocks built with ``cross_attention``; without an
        ``encoder_out`` such a block skips its cross layer (BLIP's text encoder read unimodally).
        ``offset`` (B, T, d): positions added where ``x`` is read as queries and keys, ``memory_offset``
        (B, S, d) where the encoder output is read as keys (DETR: never to the values)."""
        cross = self.cross_attn is not None and encoder_out is not None
        if offset is not None:
            attn_args["qk_offset"] = offset
        offsets = {} if offset is None and memory_offset is None else \
            {"query_offset": offset, "memory_offset": memory_offset}
        if self.residual == "pre":
            x = x + self.drop(self.attn(self.attn_norm(x), **attn_args))
            if cross:
                x = x + self.drop(self.cross_attn(self.cross_norm(x), encoder_out, encoder_mask, cross_cache, **offsets))
            return x + self.drop(self.mlp(self.mlp_norm(x)))
        if self.residual == "post":
            x = self.attn_norm(x + self.drop(self.attn(x, **attn_args)))
            if cross:
                x = self.cross_norm(x + self.drop(self.cross_attn(x, encoder_out, encoder_mask, cross_cache, **offsets)))
            return self.mlp_norm(x + self.drop(self.mlp(x)))
        h = self.attn_norm(x)
        return x + self.drop(self.attn(h, **attn_args)) + self.drop(self.mlp(h if self.mlp_norm is None else self.mlp_norm(x)))
