"""The Transformer block with its three residual layouts.

- ``pre``  (GPT-2, LLaMA):     x = x + attn(norm1(x));  x = x + mlp(norm2(x))
- ``post`` (Vaswani, BERT, GPT-1): x = norm1(x + attn(x)); x = norm2(x + mlp(x))
- ``parallel`` (GPT-NeoX):  x = x + attn(norm1(x)) + mlp(norm2(x))
- ``parallel_shared_norm`` (GPT-J, PaLM): h = norm1(x); x = x + attn(h) + mlp(h)
"""

from __future__ import annotations

from torch import nn

from ..core.config import ModelConfig
from ..layers.attention import Attention
from ..layers.moe import feed_forward
from ..layers.norm import make_norm


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int, qk_transform=None, score_bias=None, score_mod=None):
        super().__init__()
        self.residual = cfg.residual
        self.attn_norm = make_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.attn = Attention(
            cfg.d_model, cfg.n_head, cfg.kv_heads, cfg.dim_head, cfg.bias, cfg.dropout, layer,
            qk_transform=qk_transform, score_bias=score_bias, qkv_bias=cfg.qkv_bias, score_mod=score_mod,
        )
        shared = cfg.residual == "parallel_shared_norm"
        self.mlp_norm = None if shared else make_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.mlp = feed_forward(cfg, layer)  # dense, or mixture of experts where the config says
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, **attn_args):
        if self.residual == "pre":
            x = x + self.drop(self.attn(self.attn_norm(x), **attn_args))
            return x + self.drop(self.mlp(self.mlp_norm(x)))
        if self.residual == "post":
            x = self.attn_norm(x + self.drop(self.attn(x, **attn_args)))
            return self.mlp_norm(x + self.drop(self.mlp(x)))
        h = self.attn_norm(x)
        return x + self.drop(self.attn(h, **attn_args)) + self.drop(self.mlp(h if self.mlp_norm is None else self.mlp_norm(x)))
