"""Captioned images, as an image-text model (CLIP) trains on them: every image with one or more
captions, the captions as token ids between a start and an end-of-text token.

Where a set has captions (a manifest's ``caption`` column, the generated shapes scenes), each image
has its own. Where it has labels only, the captions are made from the label by prompt templates
(CLIP, Radford et al. 2021, section 3.1.4: "A photo of a {label}."), several phrasings per label so
that the text tower learns the label, not one sentence; a digit's label is written as its word
("a photo of the digit seven"). The same templates are the prompts of zero-shot classification.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.errors import UserError
from ..data.pairs import RandomPairs
from .images import ImageSet
from .processor import ImageProcessor

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_TEMPLATES = ("a photo of the digit {}.", "a handwritten {}.", "the number {}.", "a picture of a {}.",
                   "an image of the digit {}.")
TEMPLATES = ("a photo of a {}.", "a picture of a {}.", "an image of a {}.", "a photo of the {}.")


def prompts(label: str, templates=None) -> list[str]:
    """The captions of a label: each template filled with it (a single digit as its word, with the
    digit templates unless ``templates`` are given)."""
    digit = label.strip().isdigit() and len(label.strip()) == 1
    word = NUMBER_WORDS[int(label)] if digit else label.strip()
    chosen = templates or (DIGIT_TEMPLATES if digit else TEMPLATES)
    for template in chosen:
        if "{}" not in template:
            raise UserError(f"prompt template {template!r} has no {{}} for the label", 'e.g. "a photo of a {}."')
    return [template.replace("{}", word) for template in chosen]


def captions_of(images: ImageSet) -> list[list[str]]:
    """Each image's captions: its own where the set has them, else its label's prompts."""
    if images.captions is not None:
        empty = [i for i, c in enumerate(images.captions) if not str(c or "").strip()]
        if empty:
            raise UserError(f"{images.source}: image {empty[0]} has an empty caption", "give every image a caption")
        return [[str(c)] for c in images.captions]
    if images.labels is None:
        raise UserError(f"{images.source} has neither captions nor labels, which an image-text model trains on",
                        "give a manifest with a caption (or label) column, or a labelled set")
    by_label = [prompts(name) for name in images.label_names]
    return [by_label[int(label)] for label in images.labels]


def encode_captions(tokenizer, texts: list[str], bos: int, eos: int, pad: int, length: int | None = None):
    """Texts -> (N, L) ids ``bos text eos`` right-padded with ``pad``; a text longer than ``length``
    tokens is cut, keeping its end-of-text token (where the text tower reads it)."""
    rows = [[bos, *ids, eos] for ids in tokenizer.encode_batch(texts)]
    if length is not None:
        rows = [row if len(row) <= length else row[: length - 1] + [eos] for row in rows]
    out = torch.full((len(rows), max(len(r) for r in rows)), pad, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


@dataclass
class ImageTextProcessor:
    """What turns raw input into an image-text model's input, saved in every checkpoint: the image
    processor (``preprocessor_config.json``) and the tokenizer (``tokenizer.json``)."""

    image: ImageProcessor
    text: object

    def save(self, directory) -> Path:
        self.image.save(directory)
        return self.text.save(directory)


class CaptionSplit:
    """Pixel values (N, C, H, W), captions as ids (M, L), the image each caption belongs to (M,),
    and class ids (N,) or None. Training draws (image, caption) pairs at random (so a label's
    phrasings at random); evaluation reads every caption once, in order."""

    def __init__(self, pixels: torch.Tensor, texts: torch.Tensor, owners: torch.Tensor, labels: torch.Tensor | None):
        self.pixels, self.texts, self.owners, self.labels = pixels, texts, owners, labels

    @classmethod
    def process(cls, images: ImageSet, processor: ImageProcessor, encode, every_caption: bool = True) -> "CaptionSplit":
        """``encode(texts) -> (M, L) ids``; ``every_caption`` False: each image's first caption only
        (held-out sets: one caption per image to retrieve)."""
        captions = captions_of(images)
        owners = [i for i, texts in enumerate(captions) for _ in (texts if every_caption else texts[:1])]
        texts = [t for texts in captions for t in (texts if every_caption else texts[:1])]
        labels = None if images.labels is None else torch.as_tensor(images.labels, dtype=torch.long)
        return cls(processor(images.images), encode(texts), torch.tensor(owners, dtype=torch.long), labels)

    def __len__(self) -> int:
        return len(self.texts)

    def collate(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self.pixels[self.owners[index]], self.texts[index]

    def sampler(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> RandomPairs:
        if not len(self):
            raise UserError("no training images", "give a set with images in it")
        return RandomPairs(self, batch_size, seed, rank, world)

    def batches(self, batch_size: int, max_batches: int | None = None):
        """Every (image, caption) pair once, in order."""
        end = len(self) if max_batches is None else min(len(self), max_batches * batch_size)
        for start in range(0, end, batch_size):
            yield self.collate(range(start, min(start + batch_size, end)))
