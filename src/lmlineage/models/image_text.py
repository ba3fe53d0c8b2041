"""A dual encoder over images and text (CLIP, Radford et al. 2021, section 2.4): an image tower and a
text tower read their inputs apart; each summary is projected linearly (no bias) into one joint
space and L2-normalised, and the cosines times exp(t), t a learned temperature, are the logits of
every image against every text.

- image tower: the ViT of ``image_encoder.py`` built from ``cfg.vision`` (CLIP's: a norm on the
  patch embeddings before the stack, ``norm.after_embeddings``, and no final norm), summarised by
  its final [class] vector through one more norm (``vision_norm``);
- text tower: the one stack, causal (section 2.4: "masked self-attention was used in the text
  encoder"), built from the config's own fields, summarised by its final-normed vector at the
  end-of-text token (:func:`end_of_text`).

The model owns the temperature (``logit_scale``, t, started at log(1 / 0.07)); the loss
(``objectives.contrastive``) owns no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from ..blocks.init import init_weights
from ..blocks.stack import Stack
from ..layers.norm import make_norm
from .capabilities import encoder_refusal
from .image_capabilities import ImageCapabilities
from .image_encoder import ImageEncoderModel


@dataclass
class ImageTextOutput:
    image_embeds: torch.Tensor | None = None  # (B_i, p), normalised
    text_embeds: torch.Tensor | None = None  # (B_t, p), normalised
    logits_per_image: torch.Tensor | None = None  # (B_i, B_t): scaled cosines
    logits_per_text: torch.Tensor | None = None  # (B_t, B_i)
    vision_hidden_states: tuple[torch.Tensor, ...] | None = None  # the patches (normed), then each block's output
    text_hidden_states: tuple[torch.Tensor, ...] | None = None  # the embeddings, then each block's output
    vision_last_hidden_state: torch.Tensor | None = None
    text_last_hidden_state: torch.Tensor | None = None  # after the final norm


def end_of_text(input_ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """(B,) where each row's text ends: its first ``eos_id``. Configs written before transformers
    fixed CLIP's end-of-text id (its PR 24773) say 2; with them, as there, the row's largest id
    (OpenAI's end-of-text is the last token of its vocabulary)."""
    if eos_id == 2:
        return input_ids.argmax(-1)
    return (input_ids == eos_id).int().argmax(-1)


class ImageTextDualEncoder(ImageCapabilities, nn.Module):
    reads = "images"  # and text: `lmlineage.load` gives it its image processor and its tokenizer
    processor = None  # set by ``lmlineage.load`` from the checkpoint's preprocessor_config.json
    tokenizer = None
    what = "an image-text dual encoder"
    classifier = None  # no class head: zero-shot `classify` reads labels with its text tower
    joint_image_text_space = True
    one_image_vector = True  # the joint-space vector
    classifies_zero_shot = True

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.vision = ImageEncoderModel(cfg.vision)  # initialised by its own config
        self.vision_norm = make_norm(cfg.vision.norm.kind, cfg.vision.d_model, cfg.vision.norm.eps, cfg.vision.bias)
        self.visual_projection = nn.Linear(cfg.vision.d_model, cfg.projection_dim, bias=False)
        self.text = Stack(cfg, causal=True)
        self.text_projection = nn.Linear(cfg.d_model, cfg.projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(cfg.logit_scale_init)))
        for part, part_cfg in ((self.visual_projection, cfg.vision), (self.text, cfg), (self.text_projection, cfg)):
            part.apply(partial(init_weights, cfg=part_cfg))

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    @property
    def image_spec(self):
        return self.config.vision.image

    def uses(self) -> list[str]:
        return ["classify IMAGE --labels ... (zero-shot)", "embed --image / --text (joint-space vectors)",
                "eval (retrieval recall@1, zero-shot accuracy)"]

    def text_refusal(self) -> tuple[str, str]:
        return encoder_refusal(self)  # it scores image-text pairs, it writes no text

    # ---- each tower -----------------------------------------------------------------------------
    def image_features(self, pixel_values: torch.Tensor, output_hidden_states: bool = False):
        """(B, C, H, W) -> (projected [class] summaries (B, p), the tower's output)."""
        out = self.vision(pixel_values, output_hidden_states=output_hidden_states)
        return self.visual_projection(self.vision_norm(out.last_hidden_state[:, 0])), out

    def text_features(self, input_ids: torch.Tensor, attention_mask=None, output_hidden_states: bool = False):
        """(B, T) ids, each row ending with the end-of-text token (right padding) -> (projected
        end-of-text summaries (B, p), (last hidden states, per-layer states))."""
        hidden, states = self.text(input_ids, attention_mask, output_hidden_states=output_hidden_states)
        rows = torch.arange(len(input_ids), device=input_ids.device)
        return self.text_projection(hidden[rows, end_of_text(input_ids, self.config.eos_id)]), (hidden, states)

    def embed_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Normalised joint-space image vectors (B, p)."""
        return F.normalize(self.image_features(pixel_values)[0], dim=-1)

    def embed_texts(self, input_ids: torch.Tensor, attention_mask=None) -> torch.Tensor:
        """Normalised joint-space text vectors (B, p)."""
        return F.normalize(self.text_features(input_ids, attention_mask)[0], dim=-1)

    def forward(self, pixel_values=None, input_ids=None, attention_mask=None,
                output_hidden_states: bool = False) -> ImageTextOutput:
        """Either tower or both; with both, the logits of every image against every text."""
        out = ImageTextOutput()
        if pixel_values is not None:
            features, vision = self.image_features(pixel_values, output_hidden_states)
            out.image_embeds = F.normalize(features, dim=-1)
            out.vision_hidden_states, out.vision_last_hidden_state = vision.hidden_states, vision.last_hidden_state
        if input_ids is not None:
            features, (hidden, states) = self.text_features(input_ids, attention_mask, output_hidden_states)
            out.text_embeds = F.normalize(features, dim=-1)
            out.text_hidden_states, out.text_last_hidden_state = (tuple(states) if states else None), hidden
        if out.image_embeds is not None and out.text_embeds is not None:
            out.logits_per_text = self.logit_scale.exp() * out.text_embeds @ out.image_embeds.T
            out.logits_per_image = out.logits_per_text.T
        return out
