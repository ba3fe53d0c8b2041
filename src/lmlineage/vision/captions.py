"""Captioned images as the captioning families (BLIP, CoCa) read them: every image with a caption
(the set's own, or one made from its label: "a handwritten seven"), the words a right caption must
name (the digit's word; each object's colour and shape), and the tokenized, padded captions.

Captions are tokenized as BERT's text tower reads them, ``[CLS] caption [SEP]``, padded with
[PAD]; the tasks put [ENC] (image-grounded encoder) or [DEC] (decoder) in the first place.
"""

from __future__ import annotations

import torch

from ..core.errors import UserError
from ..data.pairs import RandomPairs
from .images import ImageSet
from .processor import ImageProcessor

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPECIALS = ("[DEC]", "[ENC]")  # BLIP's decoder start and image-grounded encoder tokens, beside BERT's


def label_caption(name: str, source: str) -> str:
    """A caption made from a class name: the digits' as a handwritten number word."""
    if source == "digits" and name.isdigit():
        return f"a handwritten {NUMBER_WORDS[int(name)]}"
    return f"a picture of {name}"


def with_captions(images: ImageSet) -> tuple[list[str], list[list[str]]]:
    """(one caption per image, the phrases each right caption names). A set with captions keeps
    them (a scene's phrases are its objects, "red circle"; a manifest's, the whole caption); a
    labelled set gets captions made from its labels, whose phrase is the label's word."""
    if images.captions is not None:
        if images.objects is not None:
            return list(images.captions), [objects.names() for objects in images.objects]
        return list(images.captions), [[c.lower().strip()] for c in images.captions]
    if images.labels is None:
        raise UserError(f"{images.source} has neither captions nor labels, which training a captioner needs",
                        "give a manifest with a caption (or label) column, or a built-in set: digits, shapes")
    captions = [label_caption(images.label_names[int(i)], images.source) for i in images.labels]
    return captions, [[c.split()[-1] if images.source == "digits" else c] for c in captions]


def names_right(caption: str, phrases: list[str], alternatives: set[str]) -> bool:
    """Whether a generated caption names every phrase of its reference (as whole words) and none
    of the set's other phrases (a caption listing every digit names no digit)."""
    padded = f" {' '.join(caption.lower().split())} "
    named = {p for p in alternatives | set(phrases) if f" {p.lower()} " in padded}
    return named == set(phrases)


def caption_ids(tokenizer, captions: list[str]) -> torch.Tensor:
    """(N, T) ids: [CLS] caption [SEP], padded with [PAD] to the longest."""
    cls, sep, pad = (tokenizer.special_ids[t] for t in ("[CLS]", "[SEP]", "[PAD]"))
    rows = [[cls, *tokenizer.encode(c), sep] for c in captions]
    out = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row)
    return out


class CaptionInputs:
    """The tokenizer and the image processor a captioner was trained with, saved together."""

    def __init__(self, tokenizer, processor: ImageProcessor):
        self.tokenizer, self.processor = tokenizer, processor

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def save(self, directory) -> None:
        self.tokenizer.save(directory)
        self.processor.save(directory)


class CaptionSplit:
    """Pixel values (N, C, H, W) and caption ids (N, T), with each caption's text and phrases."""

    def __init__(self, pixels: torch.Tensor, ids: torch.Tensor, captions: list[str], phrases: list[list[str]]):
        self.pixels, self.ids, self.captions, self.phrases = pixels, ids, captions, phrases
        self.alternatives = {p for row in phrases for p in row}  # what a caption could name instead

    @classmethod
    def process(cls, images: ImageSet, inputs: CaptionInputs) -> "CaptionSplit":
        captions, phrases = with_captions(images)
        return cls(inputs.processor(images.images), caption_ids(inputs.tokenizer, captions), captions, phrases)

    def __len__(self) -> int:
        return len(self.ids)

    def collate(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self.pixels[index], self.ids[index]

    def sampler(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> RandomPairs:
        if not len(self):
            raise UserError("no training images", "give a set with images in it")
        return RandomPairs(self, batch_size, seed, rank, world)

    def batches(self, batch_size: int, max_batches: int | None = None):
        end = len(self) if max_batches is None else min(len(self), max_batches * batch_size)
        for start in range(0, end, batch_size):
            yield self.pixels[start:min(start + batch_size, end)], self.ids[start:min(start + batch_size, end)]


def caption_processor(size: int) -> ImageProcessor:
    """BLIP's processing at the model's side: grey repeated to RGB, resized to size x size, mean and std 0.5."""
    processor = ImageProcessor.vit(size, size, 3)
    processor.do_convert_rgb = True
    return processor


