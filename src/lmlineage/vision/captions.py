"""Captioned images for the text-to-image families: a caption per image (a set's own, else built
from its label: digits read "a handwritten seven"), the captions as token ids with the two ids a
caption model adds to its tokenizer's (the empty caption, classifier-free guidance's null
condition, and padding), and the split the trainer draws batches from."""

from __future__ import annotations

import numpy as np
import torch

from ..core.errors import UserError
from ..data.pairs import RandomPairs
from .images import ImageSet
from .processor import ImageProcessor

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def caption_of_label(source: str, name: str) -> str:
    """The caption a label stands for: digits are handwritten numbers, other classes "a picture of ..."."""
    if source == "digits" and name.isdigit():
        return f"a handwritten {NUMBER_WORDS[int(name)]}"
    return f"a picture of {name}"


def captions_of(images: ImageSet) -> list[str]:
    """Each image's caption: the set's own, else one from its label."""
    if images.captions is not None:
        captions = list(images.captions)
    elif images.labels is not None:
        captions = [caption_of_label(images.source, images.label_names[int(i)]) for i in images.labels]
    else:
        raise UserError(f"{images.source} has neither captions nor labels, which drawing from text needs",
                        "give a manifest with a caption or label column, or a labelled set")
    empty = [i for i, c in enumerate(captions) if not isinstance(c, str) or not c.strip()]
    if empty:
        raise UserError(f"{images.source}: the caption of image {empty[0]} is empty",
                        "give every image a caption (or a label to build one from)")
    return captions


def drawing_processor(size: int, channels: int) -> ImageProcessor:
    """Images to [-1, 1] at ``size`` x ``size`` (bicubic), as the diffusion models draw them."""
    return ImageProcessor(size={"height": size, "width": size}, resample=3, image_mean=[0.5] * channels,
                          image_std=[0.5] * channels)


class CaptionIds:
    """Captions <-> (B, L) ids over a tokenizer's vocabulary plus ``null`` (the empty caption, one
    token that is attended) and ``pad`` (masked)."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length
        self.null, self.pad = tokenizer.vocab_size, tokenizer.vocab_size + 1

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size + 2

    def __call__(self, captions: list[str | None]) -> torch.Tensor:
        """None or "" is the empty caption."""
        rows = []
        for caption in captions:
            ids = self.tokenizer.encode(caption) if caption else [self.null]
            if len(ids) > self.max_length:
                raise UserError(f"the caption {caption!r} is {len(ids)} tokens, more than the {self.max_length} "
                                "the model reads", "give a shorter caption")
            rows.append(ids + [self.pad] * (self.max_length - len(ids)))
        return torch.tensor(rows, dtype=torch.long)


class CaptionSplit:
    """Pixel values (N, C, H, W) in [-1, 1], caption ids (N, L), and the labels where the set has them."""

    def __init__(self, pixels: torch.Tensor, ids: torch.Tensor, labels: np.ndarray | None, captions: list[str]):
        self.pixels, self.ids, self.labels, self.captions = pixels, ids, labels, captions

    @classmethod
    def process(cls, images: ImageSet, processor: ImageProcessor, caption_ids: CaptionIds) -> "CaptionSplit":
        captions = captions_of(images)
        return cls(processor(images.images), caption_ids(captions), images.labels, captions)

    def __len__(self) -> int:
        return len(self.ids)

    def collate(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self.pixels[index], self.ids[index]

    def sampler(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> RandomPairs:
        if not len(self):
            raise UserError("no training images", "give a set with captioned images in it")
        return RandomPairs(self, batch_size, seed, rank, world)

    def batches(self, batch_size: int, max_batches: int | None = None):
        end = len(self) if max_batches is None else min(len(self), max_batches * batch_size)
        for start in range(0, end, batch_size):
            yield self.collate(range(start, min(start + batch_size, end)))


class CaptionedInputs:
    """What a text-to-image checkpoint keeps beside its weights: the caption tokenizer
    (``tokenizer.json``) and the image processor (``preprocessor_config.json``)."""

    def __init__(self, tokenizer, processor: ImageProcessor):
        self.tokenizer, self.processor = tokenizer, processor

    def save(self, directory) -> None:
        self.tokenizer.save(directory)
        self.processor.save(directory)
