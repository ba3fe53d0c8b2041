"""A decoder LM that reads images among its words (PaLM-E, Driess et al. 2023, "PaLM-E: An Embodied
Multimodal Language Model", section 3): an image encoder's output vectors, projected by one affine
map into the LM's embedding space ("ψ", section 3.1: ViT features mapped to the word-embedding
width), take the places of the image placeholder in the input sequence, so the prompt interleaves
text and image ("what digit is <img>?"); the LM then answers in text. Trained end to end, or with
the LM frozen (``cfg.freeze_lm``, section 6.3) so that only the encoder and the projection learn.

It speaks the decoder step protocol of ``generation/engine.py``: the image goes in with the prompt
(``pixel_values`` on the first call, through :class:`ImagePrompt`) and the cached steps after it
read text alone.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.config import ImageTextConfig
from ..core.errors import UserError
from ..vision.shapes import SHAPES
from .capabilities import ModelCapabilities
from .decoder import DecoderLM, DecoderOutput
from .image_encoder import ImageEncoderModel


class ImageTextLM(ModelCapabilities, nn.Module):
    reads = "image_questions"
    processor = None  # set by ``lmlineage.load`` from the checkpoint's preprocessor_config.json
    tokenizer = None

    def __init__(self, cfg: ImageTextConfig):
        super().__init__()
        self.config = cfg
        self.vision = ImageEncoderModel(cfg.vision)
        self.project = nn.Linear(cfg.vision.d_model, cfg.d_model)  # ψ: image vectors into the word-embedding space
        nn.init.normal_(self.project.weight, std=cfg.init.std)
        nn.init.zeros_(self.project.bias)
        self.lm = DecoderLM(cfg)
        # Each patch's shape or background (``vision.shapes.patch_shapes``), read off the encoder's
        # patch states where training teaches the encoder the objects (``patch_shapes`` > 0)
        self.patch_shapes = nn.Linear(cfg.vision.d_model, len(SHAPES) + 1) if cfg.patch_shapes else None
        if cfg.freeze_lm:
            self.lm.requires_grad_(False)

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    @property
    def context_window(self) -> int | None:
        return self.lm.context_window

    def new_cache(self, **kwargs):
        return self.lm.new_cache(**kwargs)

    def image_embeddings(self, pixel_values: torch.Tensor, outputs: dict | None = None) -> torch.Tensor:
        """(B, C, H, W) -> (B, image_tokens, d_model): the encoder's last states ([class] and every
        patch), projected into the LM's input space; where the model has the ``patch_shapes`` head,
        each patch's shape logits (B, n_patches, classes) go into ``outputs["patch_shapes"]``."""
        states = self.vision(pixel_values).last_hidden_state
        if self.patch_shapes is not None and outputs is not None:
            outputs["patch_shapes"] = self.patch_shapes(states[:, 1:])
        return self.project(states)

    def forward(self, input_ids, pixel_values=None, attention_mask=None, position_ids=None, cache=None,
                logits_slice: int | None = None, output_hidden_states=False) -> DecoderOutput:
        """``input_ids`` (B, T) holding ``image_tokens`` placeholders per row where the row's image goes
        (none in the text-only ablation, or in a cached step after the prompt); ``pixel_values``
        (B, C, H, W) the rows' images."""
        slots = input_ids == self.config.image_token_id
        outputs = {}
        if position_ids is None and self.lm.backbone.embed_positions is not None:  # a position table reads them here
            past = cache.length if cache is not None else 0
            position_ids = torch.arange(past, past + input_ids.shape[1], device=input_ids.device)[None]
        words = self.lm.backbone.embed(input_ids.masked_fill(slots, 0), position_ids)
        if bool(slots.any()):
            if pixel_values is None:
                raise UserError("the input holds image placeholders but no image was given", "give the image")
            counts = slots.sum(1)
            if bool((counts != self.config.image_tokens).any()):
                raise UserError(f"each row must hold {self.config.image_tokens} image placeholders (one image), "
                                f"got {counts.tolist()}", "put <img> once in the prompt")
            images = self.image_embeddings(pixel_values, outputs).to(words.dtype)
            words = words.masked_scatter(slots[..., None], images)  # row by row, in order: the image's tokens
        hidden, states = self.lm.backbone(None, attention_mask, position_ids, cache, output_hidden_states,
                                          inputs_embeds=words)
        head_in = hidden if logits_slice is None else hidden[:, logits_slice:]
        logits = self.lm.lm_head(head_in)
        # The placeholder is no word: never predicted, so never generated.
        logits = logits.index_fill(-1, torch.tensor([self.config.image_token_id], device=logits.device),
                                   float("-inf"))
        return DecoderOutput(logits, hidden, tuple(states) if states else None, outputs=outputs)


class ImagePrompt(nn.Module):
    """The model with one batch of images bound to its prompt, for the generation engine: the first
    call (the prompt) reads the images at the placeholders, the cached steps after it text alone."""

    def __init__(self, model: ImageTextLM, pixel_values: torch.Tensor):
        super().__init__()
        self.model, self.pixel_values = model, pixel_values
        self.context_window = model.context_window
        self.max_positions = model.max_positions
        self.config = model.config

    def new_cache(self, **kwargs):
        return self.model.new_cache(**kwargs)

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, logits_slice=None):
        fresh = cache is None or cache.length == 0  # the prompt: where the image is read
        return self.model(input_ids, self.pixel_values if fresh else None, attention_mask=attention_mask,
                          position_ids=position_ids, cache=cache, logits_slice=logits_slice)
