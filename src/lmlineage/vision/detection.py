"""Scenes with boxed objects as a detector trains on them: pixel values, and per image the class
ids and boxes of its objects as (centre x, centre y, width, height) fractions of the image, the
form DETR predicts (Carion et al. 2020, section 3.1)."""

from __future__ import annotations

import numpy as np
import torch

from ..core.errors import UserError
from ..data.pairs import RandomPairs
from .images import ImageSet
from .processor import ImageProcessor
from .shapes import SHAPES


class Targets(list):
    """One dict per image, ``labels`` (k,) int64 and ``boxes`` (k, 4) float32; moved to a device
    as the trainer moves a batch's targets."""

    def to(self, device, non_blocking: bool = False) -> "Targets":
        return Targets({k: v.to(device, non_blocking=non_blocking) for k, v in t.items()} for t in self)


def require_objects(images: ImageSet) -> None:
    if images.objects is None:
        raise UserError(f"{images.source} has no boxed objects, which training a detector needs",
                        "give --data shapes (or shapes:N): generated scenes with boxes")


def scene_targets(images: ImageSet) -> Targets:
    """Each scene's objects as class ids (the shape: SHAPES) and fractional centre boxes."""
    require_objects(images)
    targets = Targets()
    for image, objects in zip(images.images, images.objects):
        height, width = image.shape[:2]
        x0, y0, x1, y1 = (objects.boxes / np.array([width, height, width, height], dtype=np.float32)).T
        boxes = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=1).astype(np.float32)
        targets.append({"labels": torch.from_numpy(objects.shapes.astype(np.int64)),
                        "boxes": torch.from_numpy(boxes.reshape(-1, 4))})
    return targets


CLASSES = list(SHAPES)  # what a detector trained on the scenes names


class SceneSplit:
    """Pixel values (N, C, H, W) float32, the targets, and each image's (height, width) in pixels."""

    def __init__(self, pixels: torch.Tensor, targets: Targets, sizes: list[tuple[int, int]]):
        self.pixels, self.targets, self.sizes = pixels, targets, sizes

    @classmethod
    def process(cls, images: ImageSet, processor: ImageProcessor) -> "SceneSplit":
        return cls(processor(images.images), scene_targets(images), [im.shape[:2] for im in images.images])

    def __len__(self) -> int:
        return len(self.targets)

    def collate(self, indices) -> tuple[torch.Tensor, Targets]:
        indices = [int(i) for i in indices]
        return self.pixels[torch.as_tensor(indices, dtype=torch.long)], Targets(self.targets[i] for i in indices)

    def sampler(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> RandomPairs:
        """``batch_size`` scenes drawn uniformly with replacement per step."""
        if not len(self):
            raise UserError("no training scenes", "give a set with scenes in it")
        return RandomPairs(self, batch_size, seed, rank, world)

    def batches(self, batch_size: int, max_batches: int | None = None):
        """Every scene once, in order."""
        end = len(self) if max_batches is None else min(len(self), max_batches * batch_size)
        for start in range(0, end, batch_size):
            yield self.collate(range(start, min(start + batch_size, end)))
