"""CoCa (Yu et al. 2022, "CoCa: Contrastive Captioners are Image-Text Foundation Models",
section 3.2, figure 2): an image encoder and a text decoder cut in two.

- The image tower's tokens are summarised by attentional pooling (``layers/attentional_pool.py``):
  one query for the contrastive embedding, ``n_queries`` for the captioner to read.
- The first ``n_unimodal`` decoder layers are *unimodal*: causal self-attention over the text alone,
  no cross-attention. A [CLS] token appended to the text reads all of it; its output, normed and
  projected, is the text's contrastive embedding.
- The other layers are *multimodal*: causal self-attention, then cross-attention over the pooled
  image queries; a final norm and an LM head predict the caption.

Both halves are the one ``Stack`` (the multimodal half reads the unimodal half's states through
its ``inputs_embeds`` path). Captioning speaks the generation engine's encoder-decoder protocol
with the image as the source, as BLIP does.
"""

from __future__ import annotations

from dataclasses import fields
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from ..blocks.init import init_weights
from ..blocks.stack import Stack
from ..core.cache import DynamicCache, EncoderDecoderCache
from ..core.config import ModelConfig, merge
from ..heads.lm import LMHead
from ..layers.attentional_pool import AttentionalPool
from ..layers.norm import make_norm
from .image_capabilities import ImageCapabilities
from .image_encoder import ImageEncoderModel
from .image_grounded_text import CaptionOutput


def half(cfg, **changes) -> ModelConfig:
    """The text stack config of one half of the decoder: the model's text fields, with ``changes``."""
    own = {f.name for f in fields(ModelConfig)}
    return ModelConfig.from_dict(merge({k: v for k, v in cfg.to_dict().items() if k in own}, changes))


class TwoStackCache:
    """The unimodal half's self-attention cache and the multimodal half's (with its cross keys)."""

    def __init__(self):
        self.unimodal, self.multimodal = DynamicCache(), EncoderDecoderCache(DynamicCache())

    @property
    def length(self) -> int:
        return self.unimodal.length

    def reorder(self, index: torch.Tensor) -> None:
        self.unimodal.reorder(index)
        self.multimodal.reorder(index)


class CocaModel(ImageCapabilities, nn.Module):
    is_encoder_decoder = True  # captioning: the image is the source
    reads = "images"
    processor = None
    tokenizer = None
    what = "a captioning model"
    classifier = None
    captions_images = True

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.vision = ImageEncoderModel(cfg.vision)
        d, heads = cfg.d_model, cfg.attention.n_head
        self.contrastive_pool = AttentionalPool(d, heads, 1, cfg.norm.eps, cfg.init.std)
        self.caption_pool = AttentionalPool(d, heads, cfg.n_queries, cfg.norm.eps, cfg.init.std)
        self.unimodal = Stack(half(cfg, n_layer=cfg.n_unimodal, norm={"final": False}), causal=True)
        self.text_norm = make_norm(cfg.norm.kind, d, cfg.norm.eps, cfg.bias)
        self.multimodal = Stack(half(cfg, n_layer=cfg.n_layer - cfg.n_unimodal), causal=True, cross_attention=True,
                                positions=("none",), tokens=False)
        self.lm_head = LMHead(d, cfg.vocab_size)
        self.vision_proj = nn.Linear(d, cfg.projection_dim, bias=False)
        self.text_proj = nn.Linear(d, cfg.projection_dim, bias=False)
        for part in (self.unimodal, self.multimodal, self.lm_head, self.vision_proj, self.text_proj):
            part.apply(partial(init_weights, cfg=cfg))

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    # ---- the image side ----------------------------------------------------------------------
    def encode(self, pixel_values, attention_mask=None):
        """(B, C, H, W) -> the captioning queries' summaries of the image tokens (B, n_queries, d)."""
        return self.caption_pool(self.vision(pixel_values).last_hidden_state)

    def image_features(self, image_tokens) -> torch.Tensor:
        """(B, projection_dim): the contrastive query's summary of the image tokens, projected, L2-normalised."""
        return F.normalize(self.vision_proj(self.contrastive_pool(image_tokens)[:, 0]), dim=-1)

    # ---- the text side -----------------------------------------------------------------------
    def text_features(self, input_ids, attention_mask, cls_id: int) -> torch.Tensor:
        """(B, projection_dim): the [CLS] appended after the text (its padding masked), through the
        unimodal layers, normed, projected, L2-normalised."""
        ids = torch.cat([input_ids, torch.full_like(input_ids[:, :1], cls_id)], dim=1)
        mask = None if attention_mask is None else torch.cat([attention_mask, torch.ones_like(attention_mask[:, :1])], 1)
        hidden, _ = self.unimodal(ids, mask)
        return F.normalize(self.text_proj(self.text_norm(hidden[:, -1])), dim=-1)

    @property
    def decoder_start_id(self) -> int:
        return self.config.decoder.start_id

    def new_cache(self, batch_size=1, max_length=None, static=False, dtype=None, device=None):
        return TwoStackCache()

    def forward(self, decoder_input_ids, encoder_out=None, encoder_mask=None, cache=None, *, pixel_values=None,
                decoder_attention_mask=None, output_hidden_states=False, logits_slice: int | None = None) -> CaptionOutput:
        """Caption logits for ``decoder_input_ids`` (B, T) given the image, as ``encoder_out`` (the
        captioning queries' summaries, from ``encode``) or ``pixel_values``."""
        if encoder_out is None:
            encoder_out = self.encode(pixel_values)
        text, states = self.unimodal(decoder_input_ids, decoder_attention_mask, None,
                                     cache.unimodal if cache is not None else None, output_hidden_states)
        hidden, more = self.multimodal(None, decoder_attention_mask, None,
                                       cache.multimodal.self_attention if cache is not None else None,
                                       output_hidden_states, inputs_embeds=text, encoder_out=encoder_out,
                                       cross_cache=cache.multimodal.cross if cache is not None else None)
        head_in = hidden if logits_slice is None else hidden[:, logits_slice:]
        states = tuple(states) + tuple(more[1:]) if output_hidden_states else None
        return CaptionOutput(self.lm_head(head_in), hidden, states, encoder_out)

    def uses(self) -> list[str]:
        return ["caption RUN IMAGE (greedy or beam)", "eval"]
