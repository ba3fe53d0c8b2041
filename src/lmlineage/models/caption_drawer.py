"""What every model that draws from a caption shares (DALL-E's Transformer over image tokens, the
diffusion models): it reads captions, carries the image processor and tokenizer ``lmlineage.load``
gives it, and keeps two ids above the caption vocabulary, the empty caption's and padding's
(``vision.captions.CaptionIds``)."""

from __future__ import annotations

from torch import nn

from .capabilities import ModelCapabilities


class CaptionDrawer(ModelCapabilities, nn.Module):
    reads = "captions"
    processor = None  # set by ``lmlineage.load`` from the checkpoint's preprocessor_config.json
    tokenizer = None

    @property
    def null_id(self) -> int:
        return self.config.vocab_size - 2

    @property
    def pad_id(self) -> int:
        return self.config.vocab_size - 1
