"""Scenes with object masks as a promptable segmenter reads them (SAM, Kirillov et al. 2023): one
example is an image, one of its objects and a point prompt on it.

An example is (pixel values (C, H, W), target (H, W) int64): 1 on the object, 0 elsewhere, and 2 at
the prompt's pixel (on the object). Training draws an image, one of its objects and a point inside
that object's mask at random (section 7.1 trains from points sampled uniformly in the mask);
evaluation reads every object of every image once, prompted at its centre: the pixel farthest from
the mask's outside (the interior distance transform's peak, as section 7.1 evaluates).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..core.errors import UserError
from .images import ImageSet
from .processor import ImageProcessor

PROMPT = 2  # the target's value at the prompt's pixel


def centre_point(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of the mask pixel farthest from every pixel outside it (the image's border counts as
    outside); ties go to the first in row order."""
    inside = np.argwhere(mask)
    outside = np.argwhere(~np.pad(mask, 1))[:, None, :] - 1
    far = ((inside[None, :, :] - outside) ** 2).sum(-1).min(0)
    y, x = inside[int(far.argmax())]
    return int(x), int(y)


def target(mask: np.ndarray, point: tuple[int, int]) -> np.ndarray:
    out = mask.astype(np.int64)
    out[point[1], point[0]] = PROMPT
    return out


def split_target(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W) targets -> the masks (B, H, W) float and the prompt points (B, 2) pixel x, y float."""
    flat = (targets == PROMPT).flatten(1).float().argmax(1)
    width = targets.shape[-1]
    return (targets > 0).float(), torch.stack([flat % width, flat // width], dim=1).float()


class PointPrompts:
    """Processed images (N, C, H, W) and each image's object masks at that size, (k, H, W) bool."""

    def __init__(self, pixels: torch.Tensor, masks: list[np.ndarray]):
        self.pixels, self.masks = pixels, masks
        self.examples = [(i, j) for i, m in enumerate(masks) for j in range(len(m))]  # evaluation's order
        self._centres = None  # the evaluation prompts, found on first use (a training split never needs them)

    @property
    def centres(self) -> list[tuple[int, int]]:
        if self._centres is None:
            self._centres = [centre_point(self.masks[i][j]) for i, j in self.examples]
        return self._centres

    @classmethod
    def process(cls, images: ImageSet, processor: ImageProcessor) -> "PointPrompts":
        if images.objects is None:
            raise UserError(f"{images.source} has no object masks, which a segmenter trains on",
                            "give --data shapes (generated scenes with a mask per object)")
        pixels = processor(images.images)
        size = tuple(pixels.shape[2:])
        masks = [_resized(o.masks, size) for o in images.objects]
        return cls(pixels, masks)

    def __len__(self) -> int:
        return len(self.masks)

    def sampler(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> "RandomPrompts":
        if not self.examples:
            raise UserError("no training objects", "give images with objects in them")
        return RandomPrompts(self, batch_size, seed, rank, world)

    def batches(self, batch_size: int, max_batches: int | None = None):
        """Every object once, prompted at its centre: (pixels (B, C, H, W), targets (B, H, W))."""
        end = len(self.examples) if max_batches is None else min(len(self.examples), max_batches * batch_size)
        for start in range(0, end, batch_size):
            chosen = range(start, min(start + batch_size, end))
            yield (self.pixels[[self.examples[k][0] for k in chosen]],
                   torch.from_numpy(np.stack([target(self.masks[self.examples[k][0]][self.examples[k][1]],
                                                     self.centres[k]) for k in chosen])))


class RandomPrompts:
    """``batch_size`` images drawn uniformly with replacement per step, for each one of its objects
    and a point inside it; one generator draws all, so a resumed run draws what it would have."""

    def __init__(self, split: PointPrompts, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1):
        self.split, self.batch_size = split, batch_size
        self.rows = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return self

    def __next__(self):
        images = torch.randint(len(self.split), (self.batch_size,), generator=self.generator).tolist()[self.rows]
        targets = []
        for i in images:
            masks = self.split.masks[i]
            mask = masks[int(torch.randint(len(masks), (1,), generator=self.generator))]
            ys, xs = np.nonzero(mask)
            k = int(torch.randint(len(ys), (1,), generator=self.generator))
            targets.append(target(mask, (int(xs[k]), int(ys[k]))))
        return self.split.pixels[images], torch.from_numpy(np.stack(targets))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def _resized(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(k, h, w) bool masks at (H, W), nearest neighbour (as the image was resized, to the pixel)."""
    if masks.shape[1:] == size:
        return masks
    return np.stack([np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize(size[::-1], Image.NEAREST)) > 127
                     for m in masks])
