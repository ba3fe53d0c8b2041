"""One Transformer stack for every direction: embeddings, blocks, a final norm; hidden states out,
no head.

``causal``: each query sees itself and earlier keys (a decoder; it may keep a KV cache), or every
key (an encoder). ``cross_attention``: every block also attends to an encoder's output (the decoder
of an encoder-decoder model). The position scheme (``cfg.position``, plus any a family adds, as
DeBERTa's disentangled scores) comes from the one registry, ``layers.positions.POSITIONS``, and
works in both directions. Cross-layer sharing (``cfg.layer_groups``: ALBERT's one set of block
weights applied n_layer times) too.

``forward(input_ids, attention_mask, position_ids, cache, ...)`` is the step protocol the trainer
and the generation engine speak: it extends ``cache`` in place.
"""

from __future__ import annotations

import torch
import torch.utils.checkpoint
from torch import nn

from ..core import masks
from ..core.cache import StaticCache
from ..core.config import ModelConfig
from ..layers.embeddings import Embeddings
from ..layers.norm import make_norm
from .block import Block


class Stack(Embeddings):
    """``positions``: the position schemes by name; default ``(cfg.position,)``."""

    def __init__(self, cfg: ModelConfig, causal: bool, cross_attention: bool = False,
                 positions: tuple[str, ...] | None = None, tokens: bool = True):
        super().__init__(cfg, causal, positions or (cfg.position.kind,), tokens)
        self.cfg, self.causal = cfg, causal
        self.layers = nn.ModuleList(
            Block(cfg, i, qk_transform=self.rotary, score_bias=shared_hook(self.score_bias),
                  score_mod=shared_hook(self.score_mod), cross_attention=cross_attention)
            for i in range(cfg.layer_groups or cfg.n_layer)
        )
        self.norm = make_norm(cfg.norm.kind, cfg.d_model, cfg.norm.eps, cfg.bias) if cfg.norm.final else None
        self.checkpointing = False  # recompute each block's activations in backward to save memory

    @property
    def shares_layers(self) -> bool:
        return len(self.layers) != self.cfg.n_layer

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, output_hidden_states=False, *,
                token_type_ids=None, encoder_out=None, encoder_mask=None, cross_cache=None, prefix_lengths=None,
                attentions: list | None = None, inputs_embeds=None, offset=None, memory_offset=None,
                document_ids=None):
        """``attention_mask`` (B, T; the cache's keys too when there is one): 1 at real tokens;
        ``token_type_ids`` (B, T): segment ids. ``encoder_out`` (B, S, d) and ``encoder_mask``
        (B, S; 1 at real source tokens, or None): what a cross-attending stack reads; ``cross_cache``
        keeps its projected keys and values. ``prefix_lengths`` (B,): each row's first tokens
        attend both ways (prefix LM, GLM's Part A). ``attentions``: a list each layer appends its
        self-attention probabilities (B, H, T, S) to, computed on the eager path.
        ``inputs_embeds`` (B, T, d): the input already embedded, in place of ``input_ids`` (image
        patches, ``layers/patches.py``): the stack's own embedding step is skipped. ``offset`` (B, T, d)
        and ``memory_offset`` (B, S, d): positions every block adds to its queries and keys, and to
        the encoder output's keys (DETR's, ``Block.forward``). ``document_ids`` (B, T): examples
        packed into one row, each attending only within itself (no cache). Returns (hidden states,
        per-layer states or None)."""
        given = input_ids if inputs_embeds is None else inputs_embeds
        b, t = given.shape[:2]
        past = cache.length if cache is not None else 0
        k_len = cache.key_slots(t) if cache is not None else t
        # Places in the sequence as device tensors: masks built from them survive graph capture.
        query_index, key_index = cache.indices(t, given.device) if cache is not None else \
            (torch.arange(t, device=given.device),) * 2
        if position_ids is None:
            position_ids = query_index[None, :]
        if past + t > self.cfg.max_positions and self.embed_positions is not None:
            raise ValueError(f"sequence of {past + t} tokens exceeds max_positions={self.cfg.max_positions}")
        key_mask = _key_mask(attention_mask, past, t, k_len, cache)
        places = dict(key_mask=key_mask, query_index=query_index, key_index=key_index, prefix_lengths=prefix_lengths,
                      document_ids=document_ids)
        mask, is_causal = masks.build(t, k_len, is_causal=self.causal, **places)
        pattern = self.cfg.attention.pattern or ["dense"]
        local = masks.build(t, k_len, is_causal=self.causal, window=self.cfg.attention.window, **places) \
            if "local" in pattern else None

        x = self.embed(input_ids, position_ids, token_type_ids) if inputs_embeds is None else inputs_embeds
        key_positions = None
        if not self.causal:  # no cache: the keys are the queries
            key_positions = position_ids.expand(b, -1)
        elif self.score_bias is not None or self.score_mod is not None:  # relative schemes need every key's position
            key_positions = position_ids.expand(b, -1) if document_ids is not None else \
                key_index[None, :] if key_mask is None else \
                masks.positions(key_mask if isinstance(cache, StaticCache) else attention_mask)[:, -k_len:]
        hidden = [x] if output_hidden_states else None
        cross = {}
        if encoder_out is not None:
            source_mask = None if encoder_mask is None or bool(encoder_mask.all()) else \
                masks.never_empty(masks.padding(encoder_mask))
            cross = dict(encoder_out=encoder_out, encoder_mask=source_mask, cross_cache=cross_cache)
        for i in range(self.cfg.n_layer):
            layer = self.layers[i * len(self.layers) // self.cfg.n_layer]  # a run of layers shares a group
            layer_mask, layer_causal = local if pattern[i % len(pattern)] == "local" else (mask, is_causal)
            args = dict(mask=layer_mask, is_causal=layer_causal, positions=position_ids, key_positions=key_positions,
                        cache=cache, **cross)
            if attentions is not None:
                args["attentions"] = attentions
            if offset is not None or memory_offset is not None:
                args.update(offset=offset, memory_offset=memory_offset)
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


def _key_mask(attention_mask, past, t, k_len, cache):
    """(B, k_len) real-key mask, or None when every key is real. ``attention_mask`` covers every
    token so far (cache + input); the layers see its last ``k_len`` (a rolling cache dropped the rest)."""
    if isinstance(cache, StaticCache):
        return cache.begin(t, attention_mask)
    if attention_mask is None or bool(attention_mask.all()):
        return None
    if attention_mask.shape[1] != past + t:
        raise ValueError(f"attention_mask covers {attention_mask.shape[1]} tokens, expected {past + t} (cache + input)")
    return attention_mask[:, past + t - k_len:]
