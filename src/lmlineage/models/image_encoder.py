"""The image encoder (ViT, Dosovitskiy et al. 2021): patch embeddings (``layers/patches.py``),
normed where the config puts a norm after the embeddings (CLIP's image tower), fed into the one
encoder stack through its ``inputs_embeds`` path, then the heads an encoder carries
(``heads/registry.py``): a classifier reads the final [class] vector, z_L^0, after the last norm
(section 3.1, eq. 4), or with ``pooling="mean"`` the mean of the final patch vectors (global
average pooling: Beyer et al. 2022, "Better plain ViT baselines"). The stack has no token table and no position scheme of its own: the patch
embeddings carry their positions."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..blocks.stack import Stack
from ..core.config import ImageModelConfig
from ..core.errors import UserError
from ..layers.patches import PatchEmbeddings
from .encoder import EncoderModel, EncoderOutput
from .image_capabilities import ImageCapabilities


class ImageEncoderModel(ImageCapabilities, EncoderModel):
    reads = "images"
    what = "an image encoder"
    one_image_vector = True  # its final [class] vector
    sentence_encoder = False  # that vector is an image's
    processor = None  # set by ``lmlineage.load`` from the checkpoint's preprocessor_config.json

    def __init__(self, cfg: ImageModelConfig):
        if cfg.position.kind != "none":
            raise UserError(f"config position.kind={cfg.position.kind!r}: an image encoder's positions are its "
                            "patch embeddings'", 'set position.kind to "none"')
        super().__init__(cfg)

    def make_backbone(self, cfg: ImageModelConfig, positions) -> Stack:
        self.patches = PatchEmbeddings(cfg.image, cfg.d_model, cfg.dropout, cfg.init.std)
        return Stack(cfg, causal=False, positions=("none",), tokens=False)

    @property
    def max_positions(self) -> int:
        return self.config.image.n_patches + 1

    @property
    def image_spec(self):
        return self.config.image

    def summary(self, hidden, pooled, attention_mask) -> torch.Tensor:
        """(B, d): what the classifier reads, by ``cfg.pooling``: "mean": the mean of the patch
        vectors, [class] left out and not normalised (a class head reads it, not a similarity);
        else the [class] vector."""
        if self.config.pooling == "mean":
            return hidden[:, 1:].mean(dim=1)
        return super().summary(hidden, pooled, attention_mask)

    def embed_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Normalised final summaries (B, d): what its classifier reads."""
        out = self(pixel_values)
        return F.normalize(self.summary(out.last_hidden_state, out.pooled, None).float(), dim=-1)

    def uses(self) -> list[str]:
        verbs = ["predict --image (its classes)", "eval (accuracy)"] if self.classifier is not None else []
        return verbs + ["train (image classification)"]

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool = False,
                output_attentions: bool = False) -> EncoderOutput:
        """(B, C, H, W) pixel values, as the image processor makes them (``vision/processor.py``)."""
        attentions = [] if output_attentions else None
        patches = self.patches(pixel_values)
        if self.backbone.embed_norm is not None:  # norm.after_embeddings: CLIP's pre_layrnorm, on the patches
            patches = self.backbone.embed_norm(patches)
        hidden, states = self.backbone(None, output_hidden_states=output_hidden_states, attentions=attentions,
                                       inputs_embeds=patches)
        return self.output(hidden, states, attentions)
