"""The decoder-only language model: a causal stack (blocks/stack.py) and an LM head.

``forward(input_ids, attention_mask, position_ids, cache)`` is the one step protocol the
trainer and the generation engine speak: it returns logits for every input position and
extends ``cache`` in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from ..core.cache import DynamicCache, RollingCache, StaticCache
from ..core.config import ModelConfig
from ..core.errors import UserError
from ..heads.registry import HEADS
from ..layers.moe import MoE
from ..blocks.init import init_weights
from ..blocks.stack import Stack
from .capabilities import ModelCapabilities


@dataclass
class DecoderOutput:
    logits: torch.Tensor | None
    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None  # embeddings, then each block's output
    aux_loss: torch.Tensor | None = None  # mixture-of-experts router losses, weighted; None without experts
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # every other head's output, by what it writes
    attentions: tuple[torch.Tensor, ...] | None = None  # each layer's attention probabilities (B, H, T, S)


class DecoderLM(ModelCapabilities, nn.Module):
    """A causal stack with the heads ``cfg.heads`` names (default: the LM head alone), each an
    attribute of that name; the model every causal family builds. A head reads the hidden state
    at every position (a value head for RL, say); ``logits`` stays the LM head's. ``positions``:
    the stack's position schemes by name; default ``(cfg.position.kind,)``."""

    causal_lm = True

    def __init__(self, cfg: ModelConfig, positions: tuple[str, ...] | None = None):
        super().__init__()
        self.config = cfg
        self.head_names = _check_heads(cfg)
        self.backbone = Stack(cfg, causal=True, positions=positions)
        self.lm_head = HEADS["lm_head"].build(cfg)
        self.apply(partial(init_weights, cfg=cfg))
        if cfg.embedding.tie:
            self.lm_head.tie(self.backbone.embed_tokens)
        # GPT-2 (section 2.3): scale residual projections by 1/sqrt(2 * n_layer) at init.
        for name, p in self.named_parameters():
            if cfg.init.kind == "normal" and name.endswith(("attn.out.weight", "fc_out.weight")):  # experts' too
                nn.init.normal_(p, mean=0.0, std=cfg.init.std / math.sqrt(2 * cfg.n_layer))
        for name in self.head_names[1:]:  # drawn last: the language model's initial weights do not move
            setattr(self, name, HEADS[name].build(cfg))
            getattr(self, name).apply(partial(init_weights, cfg=cfg))

    def new_cache(self, batch_size=1, max_length=None, static=False, dtype=None, device=None):
        if self.backbone.shares_layers:
            return None  # one block at several depths would write one cache slot: decode without a cache
        c = self.config
        if not static:
            # Sliding windows on every layer: keys older than the window are never read again.
            return RollingCache(c.attention.window) if set(c.attention.pattern or ()) == {"local"} else DynamicCache()
        p = next(self.parameters())
        return StaticCache(
            c.n_layer, batch_size, c.attention.kv_heads, max_length or c.max_positions, c.attention.dim_head(c.d_model),
            dtype or p.dtype, device or p.device,
        )

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    @property
    def context_window(self) -> int | None:
        """The most tokens one forward reads: the rows of a position table (learned, sinusoidal);
        None for relative positions (RoPE, ALiBi), which decode as far as the cache holds."""
        return self.config.max_positions if self.backbone.embed_positions is not None else None

    tokenizer = None  # set by ``lmlineage.load`` when the checkpoint carries one

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None,
                output_hidden_states=False, logits_slice: int | None = None, prefix_lengths=None,
                output_attentions=False, document_ids=None) -> DecoderOutput:
        """``logits_slice=-1`` computes logits only for the last position (decoding);
        ``output_attentions``: every layer's attention probabilities too (the eager path computes them);
        ``document_ids`` (B, T): packed examples, each attending only to itself (pass each one's
        ``position_ids`` from 0 too)."""
        attentions = [] if output_attentions else None
        hidden, states = self.backbone(input_ids, attention_mask, position_ids, cache, output_hidden_states,
                                       prefix_lengths=prefix_lengths, attentions=attentions,
                                       document_ids=document_ids)
        head_in = hidden if logits_slice is None else hidden[:, logits_slice:]
        routers = [layer.mlp.aux_loss for layer in self.backbone.layers if isinstance(layer.mlp, MoE)]
        outputs = {HEADS[name].writes: getattr(self, name)(head_in) for name in self.head_names[1:]}
        return DecoderOutput(self.lm_head(head_in), hidden, tuple(states) if states else None,
                             sum(routers) if routers else None, outputs, tuple(attentions) if attentions else None)


def _check_heads(cfg: ModelConfig) -> tuple[str, ...]:
    """The LM head, then the other chosen heads in the registry's order, or a UserError. A decoder
    has no pooled [CLS] or masked positions: its heads read the hidden states."""
    heads = list(cfg.heads or ())
    unknown = sorted(set(heads) - set(HEADS))
    if unknown:
        raise UserError(f"config heads: unknown head(s) {', '.join(unknown)}", f"choose from {', '.join(HEADS)}")
    unfit = [name for name in heads if HEADS[name].reads != "hidden" or HEADS[name].labelled]
    if unfit:
        raise UserError(f"config heads: a decoder cannot carry {', '.join(unfit)}",
                        "its heads read every position's hidden state (lm_head, value, ...)")
    return ("lm_head",) + tuple(name for name in HEADS if name in heads and name != "lm_head")
