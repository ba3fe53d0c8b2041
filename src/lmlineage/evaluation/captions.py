"""Captioning scored by what the caption names: each held-out image captioned (greedy, or beam
search), then counted right when the caption names every phrase its reference holds (the digit's
word; each shape's colour and kind), as whole words, and no other phrase of the set (``vision/captions.py``)."""

from __future__ import annotations

import torch

from ..generation.engine import generate
from ..vision.captions import CaptionSplit


def caption_pixels(model, tokenizer, pixels: torch.Tensor, num_beams: int = 1, max_new_tokens: int | None = None,
                   batch_size: int = 64) -> list[str]:
    """Captions of pixel values (N, C, H, W) from a model that captions (BLIP, CoCa)."""
    device = next(model.parameters()).device
    longest = max_new_tokens or model.config.max_positions - 1
    out = []
    for start in range(0, len(pixels), batch_size):
        new = generate(model, pixels[start:start + batch_size].to(device), max_new_tokens=longest,
                       eos_id=model.config.decoder.eos_id, pad_id=model.config.decoder.pad_id or 0,
                       num_beams=num_beams)
        out.extend(tokenizer.decode([t for t in row.tolist() if t != model.config.decoder.eos_id
                                     and t not in tokenizer.special_ids.values()]) for row in new)
    return out


def caption_split(model, tokenizer, split: CaptionSplit, num_beams: int = 1) -> tuple[list[str], float]:
    """(each image's caption, the share that name everything their reference names)."""
    captions = caption_pixels(model, tokenizer, split.pixels, num_beams)
    return captions, split.named(captions)
