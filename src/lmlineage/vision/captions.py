"""Captioned images, as the image-text families (CLIP, BLIP, CoCa) and the text-to-image ones (GLIDE,
latent diffusion) train on them: every image with one or more captions, the captions as token ids
(between a start and an end token; a drawer's with a null caption and padding above its
vocabulary, ``CaptionIds``), and the phrases a caption of the image must name to be right.

Where a set has captions (a manifest's ``caption`` column, the generated shapes scenes), each image
has its own. Where it has labels only, the captions are made from the label by templates, one pair
per task: for a single digit (written as its word) and for any other label. CLIP's are several
prompt phrasings (Radford et al. 2021, section 3.1.4: "A photo of a {label}."), so that the text
tower learns the label, not one sentence, and are the prompts of zero-shot classification; a
captioner's (BLIP's, CoCa's) and a drawer's (GLIDE's) is one sentence to say or draw ("a
handwritten seven").

What a right caption names (``CaptionSplit.named``): each object's colour and kind in a scene, a
labelled image's label word, else the whole caption.
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
PROMPTS = (DIGIT_TEMPLATES, TEMPLATES)  # (a digit's, any other label's): CLIP's prompts
CAPTIONS = (("a handwritten {}",), ("a picture of {}",))  # one sentence to say (BLIP, CoCa) or draw (GLIDE)


def is_digit(label: str) -> bool:
    return label.strip().isdigit() and len(label.strip()) == 1


def label_word(label: str) -> str:
    """How a caption names a label: a single digit as its word, anything else as it is."""
    return NUMBER_WORDS[int(label)] if is_digit(label) else label.strip()


def prompts(label: str, templates=None, defaults=PROMPTS) -> list[str]:
    """The captions of a label: each template filled with its word; ``templates`` where given, else
    ``defaults`` (a pair: the digits' templates, the other labels')."""
    word = label_word(label)
    chosen = templates or defaults[0 if is_digit(label) else 1]
    for template in chosen:
        if "{}" not in template:
            raise UserError(f"prompt template {template!r} has no {{}} for the label", 'e.g. "a photo of a {}."')
    return [template.replace("{}", word) for template in chosen]


def captions_of(images: ImageSet, templates=None) -> list[list[str]]:
    """Each image's captions: its own where the set has them, else its label's, from ``templates``
    (a pair: the digits', the other labels'; default ``PROMPTS``)."""
    if images.captions is not None:
        empty = [i for i, c in enumerate(images.captions) if not str(c or "").strip()]
        if empty:
            raise UserError(f"{images.source}: image {empty[0]} has an empty caption", "give every image a caption")
        return [[str(c)] for c in images.captions]
    if images.labels is None:
        raise UserError(f"{images.source} has neither captions nor labels, which an image-text model trains on",
                        "give a manifest with a caption (or label) column, or a labelled set")
    by_label = [prompts(name, defaults=templates or PROMPTS) for name in images.label_names]
    return [by_label[int(label)] for label in images.labels]


def phrases_of(images: ImageSet) -> list[list[str]]:
    """What a right caption of each image names: a scene's objects ("red circle"), a labelled
    image's label word ("seven"), else its whole caption."""
    if images.objects is not None:
        return [objects.names() for objects in images.objects]
    if images.captions is not None:
        return [[str(c).lower().strip()] for c in images.captions]
    return [[label_word(images.label_names[int(label)]).lower()] for label in images.labels]


def names_right(caption: str, phrases: list[str], alternatives: set[str]) -> bool:
    """Whether a generated caption names every phrase of its reference (as whole words) and none
    of the set's other phrases (a caption listing every digit names no digit)."""
    padded = f" {' '.join(caption.lower().split())} "
    named = {p for p in alternatives | set(phrases) if f" {p.lower()} " in padded}
    return named == set(phrases)


def encode_captions(tokenizer, texts: list[str], bos: int, eos: int, pad: int, length: int | None = None):
    """Texts -> (N, L) ids ``bos text eos`` right-padded with ``pad`` (CLIP's start and end of text;
    BERT's [CLS] and [SEP] in BLIP); a text longer than ``length`` tokens is cut, keeping its end
    token (where CLIP's text tower reads it)."""
    rows = [[bos, *ids, eos] for ids in tokenizer.encode_batch(texts)]
    if length is not None:
        rows = [row if len(row) <= length else row[: length - 1] + [eos] for row in rows]
    out = torch.full((len(rows), max(len(r) for r in rows)), pad, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


class CaptionIds:
    """A text-to-image model's captions -> (B, max_length) ids: the caption's tokens alone (no start
    or end token), over the tokenizer's vocabulary plus two ids above it: ``null``, the empty caption
    (classifier-free guidance's null condition, one token that is attended), and ``pad`` (masked)."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length
        self.null, self.pad = tokenizer.vocab_size, tokenizer.vocab_size + 1

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size + 2

    def __call__(self, captions: list[str | None]) -> torch.Tensor:
        """None or "" is the empty caption; a caption longer than ``max_length`` tokens is refused."""
        rows = []
        for caption in captions:
            ids = self.tokenizer.encode(caption) if caption else [self.null]
            if len(ids) > self.max_length:
                raise UserError(f"the caption {caption!r} is {len(ids)} tokens, more than the {self.max_length} "
                                "the model reads", "give a shorter caption")
            rows.append(ids + [self.pad] * (self.max_length - len(ids)))
        return torch.tensor(rows, dtype=torch.long)


@dataclass
class ImageTextProcessor:
    """What turns raw input into an image-text model's input, saved in every checkpoint: the image
    processor (``preprocessor_config.json``) and the tokenizer (``tokenizer.json``)."""

    image: ImageProcessor
    text: object

    @property
    def vocab_size(self) -> int:
        return self.text.vocab_size

    def save(self, directory) -> Path:
        self.image.save(directory)
        return self.text.save(directory)


class CaptionSplit:
    """Pixel values (N, C, H, W), captions as ids (M, L) with their texts, the image each caption
    belongs to (M,), class ids (N,) or None, and what a right caption of each image names. Training
    draws (image, caption) pairs at random (so a label's phrasings at random); evaluation reads
    every caption once, in order."""

    def __init__(self, pixels: torch.Tensor, texts: torch.Tensor, owners: torch.Tensor, labels: torch.Tensor | None,
                 captions: list[str] | None = None, phrases: list[list[str]] | None = None):
        self.pixels, self.texts, self.owners, self.labels = pixels, texts, owners, labels
        self.captions, self.phrases = captions, phrases

    @classmethod
    def process(cls, images: ImageSet, processor: ImageProcessor, encode, every_caption: bool = True,
                templates=None) -> "CaptionSplit":
        """``encode(texts) -> (M, L) ids``; ``every_caption`` False: each image's first caption only
        (held-out sets: one caption per image to retrieve); ``templates``: how labels are captioned."""
        captions = captions_of(images, templates)
        owners = [i for i, texts in enumerate(captions) for _ in (texts if every_caption else texts[:1])]
        texts = [t for texts in captions for t in (texts if every_caption else texts[:1])]
        labels = None if images.labels is None else torch.as_tensor(images.labels, dtype=torch.long)
        return cls(processor(images.images), encode(texts), torch.tensor(owners, dtype=torch.long), labels,
                   texts, phrases_of(images))

    def __len__(self) -> int:
        return len(self.texts)

    def named(self, generated: list[str]) -> float:
        """The share of images whose generated caption (one per image, in order) names everything
        its reference names and nothing else the set's references name."""
        alternatives = {p for row in self.phrases for p in row}  # what a caption could name instead
        right = sum(names_right(c, phrases, alternatives) for c, phrases in zip(generated, self.phrases))
        return right / max(len(generated), 1)

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
