"""The decoder-only language model: embeddings, a stack of blocks, a final norm, an LM head.

``forward(input_ids, attention_mask, position_ids, cache)`` is the one step protocol the
trainer and the generation engine speak: it returns logits for every input position and
extends ``cache`` in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.utils.checkpoint
from torch import nn

from ..core import masks
from ..core.cache import DynamicCache, StaticCache
from ..core.config import ModelConfig
from ..heads.lm import LMHead
from ..layers.norm import make_norm
from ..layers.positions import make_positions
from ..layers.alibi import ALiBi
from ..layers.moe import MoE
from ..layers.rotary import Rotary
from .block import Block
from .init import init_weights


@dataclass
class DecoderOutput:
    logits: torch.Tensor | None
    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None  # embeddings, then each block's output
    aux_loss: torch.Tensor | None = None  # mixture-of-experts router losses, weighted; None without experts


class DecoderStack(nn.Module):
    """Embeddings + blocks + final norm: produces hidden states, owns no head."""

    def __init__(self, cfg: ModelConfig, qk_transform=None, score_bias=None, cross_attention=False):
        """``cross_attention``: the decoder of an encoder-decoder model (blocks attend to the encoder)."""
        super().__init__()
        self.cfg = cfg
        if qk_transform is None and cfg.position == "rotary":
            qk_transform = Rotary(cfg.dim_head, cfg.rope_theta, cfg.rotary_fraction, cfg.rope_layout)
        if score_bias is None and cfg.position == "alibi":
            score_bias = ALiBi(cfg.n_head)
        # Registered once here; every layer's attention shares them.
        self.rotary, self.score_bias = qk_transform, score_bias
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.embed_positions = make_positions(cfg.position, cfg.max_positions, cfg.d_model)
        self.embed_norm = make_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias) if cfg.embed_norm else None
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            Block(cfg, i, qk_transform=qk_transform, score_bias=shared_hook(score_bias), cross_attention=cross_attention)
            for i in range(cfg.n_layer)
        )
        self.norm = make_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias) if cfg.final_norm else None
        self.checkpointing = False  # recompute each block's activations in backward to save memory

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, output_hidden_states=False,
                encoder_out=None, encoder_mask=None, cross_cache=None, prefix_lengths=None):
        """``encoder_out`` (B, S, d) and ``encoder_mask`` (B, S; 1 at real source tokens, or None):
        what a cross-attending stack reads; ``cross_cache`` keeps its projected keys and values.
        ``prefix_lengths`` (B,): each row's first tokens attend both ways (prefix LM, GLM's Part A)."""
        b, t = input_ids.shape
        past = cache.length if cache is not None else 0
        k_len = cache.key_slots(t) if cache is not None else t
        if position_ids is None:
            position_ids = torch.arange(past, past + t, device=input_ids.device)[None, :]
        if past + t > self.cfg.max_positions and self.embed_positions is not None:
            raise ValueError(f"sequence of {past + t} tokens exceeds max_positions={self.cfg.max_positions}")
        key_mask = _key_mask(attention_mask, b, past, t, k_len, cache, input_ids.device)
        mask, is_causal = masks.build(t, k_len, is_causal=True, key_mask=key_mask, past=past, device=input_ids.device,
                                      prefix_lengths=prefix_lengths)
        pattern = self.cfg.attention_pattern or ["dense"]
        local = masks.build(t, k_len, is_causal=True, key_mask=key_mask, past=past, device=input_ids.device,
                            window=self.cfg.attention_window, prefix_lengths=prefix_lengths) if "local" in pattern else None

        x = self.embed_tokens(input_ids)
        if self.cfg.embed_scale:
            x = x * math.sqrt(self.cfg.d_model)
        if self.embed_positions is not None:
            x = x + self.embed_positions(position_ids)
        if self.embed_norm is not None:
            x = self.embed_norm(x)
        x = self.drop(x)
        key_positions = None
        if self.score_bias is not None:  # relative biases need every key's position
            key_positions = masks.positions(key_mask) if key_mask is not None else \
                torch.arange(k_len, device=input_ids.device)[None, :]
        hidden = [x] if output_hidden_states else None
        cross = {}
        if encoder_out is not None:
            source_mask = None if encoder_mask is None or bool(encoder_mask.all()) else \
                masks.never_empty(masks.padding(encoder_mask))
            cross = dict(encoder_out=encoder_out, encoder_mask=source_mask, cross_cache=cross_cache)
        for i, layer in enumerate(self.layers):
            layer_mask, layer_causal = local if pattern[i % len(pattern)] == "local" else (mask, is_causal)
            args = dict(mask=layer_mask, is_causal=layer_causal, positions=position_ids, key_positions=key_positions, cache=cache,
                        **cross)
            if self.checkpointing and self.training and cache is None:
                x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False, **args)
            else:
                x = layer(x, **args)
            if hidden is not None:
                hidden.append(x)
        if cache is not None:
            cache.advance(t)
        if self.norm is not None:
            x = self.norm(x)
        return x, hidden


def shared_hook(hook):
    """A stack-level hook module as the layers see it: its bound call, so every layer shares the
    stack's one module (and its parameters, T5's bucket table) without registering a copy each."""
    return hook.__call__ if isinstance(hook, nn.Module) else hook


def _key_mask(attention_mask, b, past, t, k_len, cache, device):
    """(B, k_len) real-key mask, or None when every key is real."""
    if isinstance(cache, StaticCache):
        return cache.begin(t, attention_mask)
    if attention_mask is None or bool(attention_mask.all()):
        return None
    if attention_mask.shape[1] != k_len:
        raise ValueError(f"attention_mask covers {attention_mask.shape[1]} tokens, expected {k_len} (cache + input)")
    return attention_mask


class DecoderLM(nn.Module):
    """A decoder stack with an LM head; the model every causal family builds."""

    def __init__(self, cfg: ModelConfig, qk_transform=None, score_bias=None):
        super().__init__()
        self.config = cfg
        self.backbone = DecoderStack(cfg, qk_transform, score_bias)
        self.lm_head = LMHead(cfg.d_model, cfg.vocab_size, bias=cfg.lm_head_bias)
        self.apply(partial(init_weights, cfg=cfg))
        if cfg.tie_embeddings:
            self.lm_head.tie(self.backbone.embed_tokens)
        # GPT-2 (section 2.3): scale residual projections by 1/sqrt(2 * n_layer) at init.
        for name, p in self.named_parameters():
            if cfg.init == "normal" and name.endswith(("attn.out.weight", "fc_out.weight")):  # experts' too
                nn.init.normal_(p, mean=0.0, std=cfg.init_std / math.sqrt(2 * cfg.n_layer))

    def new_cache(self, batch_size=1, max_length=None, static=False, dtype=None, device=None):
        if not static:
            return DynamicCache()
        c = self.config
        p = next(self.parameters())
        return StaticCache(
            c.n_layer, batch_size, c.kv_heads, max_length or c.max_positions, c.dim_head,
            dtype or p.dtype, device or p.device,
        )

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    tokenizer = None  # set by ``lmlineage.load`` when the checkpoint carries one

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None,
                output_hidden_states=False, logits_slice: int | None = None, prefix_lengths=None) -> DecoderOutput:
        """``logits_slice=-1`` computes logits only for the last position (decoding)."""
        hidden, states = self.backbone(input_ids, attention_mask, position_ids, cache, output_hidden_states,
                                       prefix_lengths=prefix_lengths)
        head_in = hidden if logits_slice is None else hidden[:, logits_slice:]
        routers = [layer.mlp.aux_loss for layer in self.backbone.layers if isinstance(layer.mlp, MoE)]
        return DecoderOutput(self.lm_head(head_in), hidden, tuple(states) if states else None,
                             sum(routers) if routers else None)
