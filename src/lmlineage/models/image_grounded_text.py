"""An image tower beside a text tower (BLIP, Li et al. 2022, "BLIP: Bootstrapping Language-Image
Pre-training for Unified Vision-Language Understanding and Generation", section 3.1, figure 2).

The image tower is a ViT (``image_encoder.py``); the text tower is BERT's stack with a cross-attention
layer in every block (``blocks/block.py``), run in three ways:

- the *unimodal text encoder* (for the image-text contrastive loss): the encoder stack with no
  image, its cross layers skipped; the [CLS] vector projected and normalised;
- the *image-grounded text encoder* (for image-text matching): the same stack reading the image
  tokens through its cross layers; a two-way head on the first token;
- the *image-grounded text decoder* (for captioning): a causal stack that shares everything with
  the encoder but its self-attention (section 3.1: "the text encoder and text decoder share all
  parameters except for the SA layers"), and an LM head (BERT's MLM head, tied to the embeddings).

``cfg.heads`` chooses the parts: "itc" (projections), "itm" (the matching head), "lm" (the decoder
and its head); a reference checkpoint holds one side (``BlipForImageTextRetrieval``: itc + itm,
``BlipForConditionalGeneration``: lm). Captioning speaks the generation engine's encoder-decoder
protocol with the image as the source: ``encode(pixel_values)`` then the decoder step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from ..blocks.init import init_weights
from ..blocks.stack import Stack
from ..core.cache import DynamicCache, EncoderDecoderCache
from ..core.config import ImageTextConfig
from ..core.errors import UserError
from ..heads.mlm import MLMHead
from .image_capabilities import ImageCapabilities
from .image_encoder import ImageEncoderModel

PARTS = ("itc", "itm", "lm")
SHARED = ("cross_norm", "cross_attn", "mlp", "mlp_norm")  # what the decoder's blocks take from the encoder's


@dataclass
class CaptionOutput:
    logits: torch.Tensor  # (B, T, vocab)
    last_hidden_state: torch.Tensor  # the decoder's
    hidden_states: tuple[torch.Tensor, ...] | None = None
    image_embeds: torch.Tensor | None = None


class ImageTextModel(ImageCapabilities, nn.Module):
    is_encoder_decoder = True  # captioning: the image is the source
    reads = "images"
    processor = None  # set by ``lmlineage.load`` from the checkpoint's preprocessor_config.json
    tokenizer = None
    what = "an image-text model"
    classifier = None

    def __init__(self, cfg: ImageTextConfig):
        super().__init__()
        parts = set(cfg.heads or ())
        if not parts or parts - set(PARTS):
            raise UserError(f"config heads={cfg.heads!r}", f"choose among {', '.join(PARTS)}")
        self.config = cfg
        self.vision = ImageEncoderModel(cfg.vision)
        self.text_encoder = Stack(cfg, causal=False, cross_attention=True) if parts & {"itc", "itm"} else None
        self.vision_proj = nn.Linear(cfg.vision.d_model, cfg.projection_dim) if "itc" in parts else None
        self.text_proj = nn.Linear(cfg.d_model, cfg.projection_dim) if "itc" in parts else None
        self.itm_head = nn.Linear(cfg.d_model, 2) if "itm" in parts else None
        self.text_decoder = Stack(cfg, causal=True, cross_attention=True) if "lm" in parts else None
        self.lm = MLMHead(cfg.d_model, cfg.vocab_size, cfg.mlp.activation, cfg.norm.eps) if "lm" in parts else None
        for part in (self.text_encoder, self.vision_proj, self.text_proj, self.itm_head, self.text_decoder, self.lm):
            if part is not None:
                part.apply(partial(init_weights, cfg=cfg))
        if self.text_decoder is not None and self.text_encoder is not None:
            self.share_with_encoder()
        if self.lm is not None and cfg.embedding.tie:
            self.lm.tie(self.text_decoder.embed_tokens)

    def share_with_encoder(self) -> None:
        """The decoder takes the encoder's embeddings, cross-attention and feed-forward layers;
        only its (causal) self-attention and that layer's norm are its own."""
        for name in ("embed_tokens", "embed_positions", "embed_norm"):
            setattr(self.text_decoder, name, getattr(self.text_encoder, name))
        for mine, theirs in zip(self.text_decoder.layers, self.text_encoder.layers):
            for name in SHARED:
                setattr(mine, name, getattr(theirs, name))

    # ---- the image tower ---------------------------------------------------------------------
    def encode(self, pixel_values, attention_mask=None, output_hidden_states=False):
        """(B, C, H, W) pixel values -> image tokens (B, 1 + N, d), after the tower's final norm;
        with ``output_hidden_states`` the pair (tokens, per-layer states)."""
        out = self.vision(pixel_values, output_hidden_states=output_hidden_states)
        return (out.last_hidden_state, out.hidden_states) if output_hidden_states else out.last_hidden_state

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    @property
    def captions_images(self) -> bool:  # a retrieval checkpoint (no lm head) does not
        return self.text_decoder is not None

    # ---- the contrastive and matching sides ---------------------------------------------------
    def image_features(self, image_embeds) -> torch.Tensor:
        """(B, projection_dim): the image's [CLS] token projected, L2-normalised."""
        return F.normalize(self.vision_proj(image_embeds[:, 0]), dim=-1)

    def text_features(self, input_ids, attention_mask=None) -> torch.Tensor:
        """(B, projection_dim): the unimodal encoder's [CLS] vector projected, L2-normalised."""
        hidden, _ = self.text_encoder(input_ids, attention_mask)
        return F.normalize(self.text_proj(hidden[:, 0]), dim=-1)

    def match(self, input_ids, image_embeds, attention_mask=None, output_hidden_states=False):
        """(B, 2) image-text matching logits (1: matched) from the image-grounded encoder's first
        token; with ``output_hidden_states`` the pair (logits, per-layer states)."""
        hidden, states = self.text_encoder(input_ids, attention_mask, output_hidden_states=output_hidden_states,
                                           encoder_out=image_embeds)
        logits = self.itm_head(hidden[:, 0])
        return (logits, states) if output_hidden_states else logits

    # ---- the captioning side (the generation engine's encoder-decoder protocol) ---------------
    @property
    def decoder_start_id(self) -> int:
        return self.config.decoder.start_id

    def new_cache(self, batch_size=1, max_length=None, static=False, dtype=None, device=None):
        return EncoderDecoderCache(DynamicCache())

    def forward(self, decoder_input_ids, encoder_out=None, encoder_mask=None, cache=None, *, pixel_values=None,
                decoder_attention_mask=None, output_hidden_states=False, logits_slice: int | None = None) -> CaptionOutput:
        """Caption logits for ``decoder_input_ids`` (B, T) given the image, as ``encoder_out``
        (from ``encode``) or ``pixel_values``."""
        if self.text_decoder is None:
            raise UserError("this model has no captioning decoder", "train or load one with the lm head")
        if encoder_out is None:
            if pixel_values is None:
                raise ValueError("give the image: pixel_values, or encoder_out from encode()")
            encoder_out = self.encode(pixel_values)
        hidden, states = self.text_decoder(
            decoder_input_ids, decoder_attention_mask, None, cache.self_attention if cache is not None else None,
            output_hidden_states, encoder_out=encoder_out, encoder_mask=encoder_mask,
            cross_cache=cache.cross if cache is not None else None)
        head_in = hidden if logits_slice is None else hidden[:, logits_slice:]
        return CaptionOutput(self.lm(head_in), hidden, tuple(states) if states else None, encoder_out)

    def uses(self) -> list[str]:
        parts = set(self.config.heads)
        return (["caption RUN IMAGE (greedy or beam)"] if "lm" in parts else []) + \
            (["embed --image / --text (contrastive features)"] if "itc" in parts else []) + ["eval"]
