"""The encoder-decoder model (Vaswani et al. 2017, section 3.1): an encoder stack reads the
source both ways; a decoder stack reads the target left to right and, in every block, attends
to the encoder's output; an LM head predicts the next target token.

Both stacks are the one ``Stack`` (bidirectional; causal with ``cross_attention``), so norms,
MLPs, positions and attention backends are the decoder-only models' own. The token embedding is shared by encoder and decoder and, with ``cfg.embedding.tie``, by the
LM head (Press & Wolf 2017; T5 and BART share all three).

It speaks the generation engine's encoder-decoder protocol (see ``generation/engine.py``):
``encode(input_ids, attention_mask)``, ``forward(decoder_input_ids, encoder_out=...,
encoder_mask=..., cache=...)``, ``new_cache(...)`` and ``decoder_start_id``.

Config: ``decoder.n_layer`` (default ``n_layer``), ``decoder.start_id``, ``position.kind="relative"``
(T5's buckets, ``position.buckets`` / ``position.max_distance``), ``embedding.rescale_head`` (the
decoder output times d_model ** -0.5 before the head, as T5's tied head), ``attention.scale`` (read by
the blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..core.cache import DynamicCache, EncoderDecoderCache, StaticCache
from ..core.config import ModelConfig
from ..heads.registry import HEADS
from ..layers.moe import MoE
from ..blocks.init import init_weights
from ..blocks.stack import Stack
from .capabilities import ModelCapabilities


@dataclass
class Seq2SeqOutput:
    logits: torch.Tensor | None
    last_hidden_state: torch.Tensor  # the decoder's, after its final norm
    hidden_states: tuple[torch.Tensor, ...] | None = None  # decoder: embeddings, then each block's output
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: tuple[torch.Tensor, ...] | None = None
    # mixture-of-experts router losses, weighted, of the stacks this call ran; None without experts
    aux_loss: torch.Tensor | None = None


class EncoderDecoderLM(ModelCapabilities, nn.Module):
    """Bidirectional stack + causal, cross-attending stack + LM head. Each stack has its own
    position scheme from ``cfg.position.kind`` (T5: one bucket table per stack, none in cross-attention)."""

    is_encoder_decoder = True

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Stack(cfg, causal=False)
        if isinstance(self.encoder.score_bias, nn.Module):
            # Initialisation visits the encoder's bias table after its blocks (the order the golden
            # runs and every T5 trained here were drawn in), so it is registered last.
            self.encoder.score_bias = self.encoder._modules.pop("score_bias")
        self.decoder = Stack(cfg.replace(n_layer=cfg.decoder.n_layer or cfg.n_layer), causal=True, cross_attention=True)
        self.lm_head = HEADS["lm_head"].build(cfg)
        self.apply(partial(init_weights, cfg=cfg))
        self.decoder.embed_tokens = self.encoder.embed_tokens
        if cfg.embedding.tie:
            self.lm_head.tie(self.decoder.embed_tokens)
        # Mesh TensorFlow T5 rescales the decoder output before its tied (embedding-sized) head.
        self.head_scale = cfg.d_model ** -0.5 if cfg.embedding.rescale_head else 1.0

    tokenizer = None  # set by ``lmlineage.load`` when the checkpoint carries one

    @property
    def decoder_start_id(self) -> int:
        return self.config.decoder.start_id

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    def new_cache(self, batch_size=1, max_length=None, static=False, dtype=None, device=None):
        if not static:
            return EncoderDecoderCache(DynamicCache())
        c, p = self.decoder.cfg, next(self.parameters())
        return EncoderDecoderCache(StaticCache(
            c.n_layer, batch_size, c.attention.kv_heads, max_length or c.max_positions, c.attention.dim_head(c.d_model),
            dtype or p.dtype, device or p.device,
        ))

    def encode(self, input_ids, attention_mask=None, output_hidden_states=False):
        """Source ids (B, S) and mask (B, S; 1 at real tokens) -> encoder output (B, S, d);
        with ``output_hidden_states`` the pair (output, per-layer states)."""
        hidden, states = self.encoder(input_ids, attention_mask, output_hidden_states=output_hidden_states)
        return (hidden, states) if output_hidden_states else hidden

    def forward(self, decoder_input_ids, encoder_out=None, encoder_mask=None, cache=None, *, input_ids=None,
                decoder_attention_mask=None, decoder_position_ids=None, output_hidden_states=False,
                logits_slice: int | None = None) -> Seq2SeqOutput:
        """Decoder logits for ``decoder_input_ids`` (B, T). The source is ``encoder_out`` (from
        ``encode``) or ``input_ids`` (encoded here); ``encoder_mask`` (B, S) marks its real tokens.
        ``cache`` (from ``new_cache``) is extended in place; ``logits_slice=-1`` computes the
        last position's logits only."""
        encoder_states, stacks = None, [self.decoder]
        if encoder_out is None:
            stacks.append(self.encoder)
            if input_ids is None:
                raise ValueError("give the source: input_ids, or encoder_out from encode()")
            encoder_out, encoder_states = self.encoder(input_ids, encoder_mask, output_hidden_states=output_hidden_states)
        self_cache = cache.self_attention if cache is not None else None
        cross_cache = cache.cross if cache is not None else None
        hidden, states = self.decoder(
            decoder_input_ids, decoder_attention_mask, decoder_position_ids, self_cache, output_hidden_states,
            encoder_out=encoder_out, encoder_mask=encoder_mask, cross_cache=cross_cache,
        )
        head_in = hidden if logits_slice is None else hidden[:, logits_slice:]
        if self.head_scale != 1.0:
            head_in = head_in * self.head_scale
        routers = [layer.mlp.aux_loss for stack in stacks for layer in stack.layers if isinstance(layer.mlp, MoE)]
        return Seq2SeqOutput(
            logits=self.lm_head(head_in), last_hidden_state=hidden,
            hidden_states=tuple(states) if states else None,
            encoder_last_hidden_state=encoder_out,
            encoder_hidden_states=tuple(encoder_states) if encoder_states else None,
            aux_loss=sum(routers) if routers else None,
        )
