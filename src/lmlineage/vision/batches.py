"""Image sets as the trainer reads them: processed pixel values and class ids, drawn at random for
training and in order for evaluation; the held-out split every image family trains and is scored on."""

from __future__ import annotations

import numpy as np
import torch

from ..core.errors import UserError
from ..data.pairs import RandomPairs
from .images import ImageSet
from .processor import ImageProcessor

HELD_OUT = 0.2  # the share of a set held out for evaluation
SPLIT_SEED = 0  # fixed, so `train` and `eval` cut every set the same way whatever the run's --seed


def held_out_split(images: ImageSet) -> tuple[ImageSet, ImageSet]:
    """(train, held-out): a seeded shuffle of the set, the same for `train` and `eval`."""
    return images.split(HELD_OUT, SPLIT_SEED)


def fitted_image(images: ImageSet, size: int, patch: int) -> dict:
    """The model's image spec for a set: the set's own side where every image is one square size
    the patches tile (nothing resized), else the preset's ``size``; its channel count."""
    sides = {im.shape[:2] for im in images.images}
    if len(sides) == 1:
        (height, width), = sides
        if height == width and height % patch == 0:
            size = height
    return {"size": size, "patch": patch, "channels": images.channels}


class ImageSplit:
    """Pixel values (N, C, H, W) float32 and class ids (N,) int64."""

    def __init__(self, pixels: torch.Tensor, labels: torch.Tensor):
        self.pixels, self.labels = pixels, labels

    @classmethod
    def process(cls, images: ImageSet, processor: ImageProcessor) -> "ImageSplit":
        images.require_labels()
        return cls(processor(images.images), torch.from_numpy(np.asarray(images.labels, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.labels)

    def collate(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self.pixels[index], self.labels[index]

    def sampler(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> RandomPairs:
        """``batch_size`` images drawn uniformly with replacement per step, as pairs are drawn."""
        if not len(self):
            raise UserError("no training images", "give a set with images in it")
        return RandomPairs(self, batch_size, seed, rank, world)

    def batches(self, batch_size: int, max_batches: int | None = None):
        """Every image once, in order."""
        end = len(self) if max_batches is None else min(len(self), max_batches * batch_size)
        for start in range(0, end, batch_size):
            yield self.pixels[start:min(start + batch_size, end)], self.labels[start:min(start + batch_size, end)]
