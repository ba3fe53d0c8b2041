"""Generated scenes of coloured shapes: a seeded stand-in for detection and segmentation data that
needs no download. Each scene is a dark canvas with 1 to ``max_objects`` shapes (circle, square,
triangle) in distinct colours that never overlap, so every object has an exact box and mask, and a
caption naming them ("a red circle and a blue square").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 230), "yellow": (230, 220, 40),
           "white": (235, 235, 235)}
BACKGROUND = 30  # grey level of the empty canvas


@dataclass
class Objects:
    """The objects of one scene: ``boxes`` (k, 4) as pixel x0, y0, x1, y1 (x1, y1 exclusive),
    ``masks`` (k, H, W) bool, ``shapes`` and ``colours`` (k,) indices into SHAPES and COLOURS."""

    boxes: np.ndarray
    masks: np.ndarray
    shapes: np.ndarray
    colours: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    def names(self) -> list[str]:
        colours = list(COLOURS)
        return [f"{colours[c]} {SHAPES[s]}" for s, c in zip(self.shapes, self.colours)]


def _mask(shape: str, size: int) -> np.ndarray:
    """A (size, size) bool mask of the shape filling its box."""
    y, x = np.mgrid[:size, :size] + 0.5
    if shape == "circle":
        r = size / 2
        return (x - r) ** 2 + (y - r) ** 2 <= r * r
    if shape == "square":
        return np.ones((size, size), dtype=bool)
    # an upright triangle: apex at the top middle, base along the bottom row
    half_width = y / size * size / 2
    return np.abs(x - size / 2) <= half_width


def _overlaps(box, boxes, gap: int = 1) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] + gap and b[0] < x1 + gap and y0 < b[3] + gap and b[1] < y1 + gap for b in boxes)


def scene(rng: np.random.Generator, size: int = 32, max_objects: int = 3) -> tuple[np.ndarray, Objects, str]:
    """One scene: the (size, size, 3) uint8 image, its objects and its caption."""
    image = np.full((size, size, 3), BACKGROUND, dtype=np.uint8)
    wanted = int(rng.integers(1, max_objects + 1))
    colour_order = rng.permutation(len(COLOURS))
    boxes, masks, shapes, colours = [], [], [], []
    low, high = max(4, size // 6), max(5, size // 2)
    for _ in range(100):  # rejection sampling of non-overlapping places
        if len(boxes) == wanted:
            break
        side = int(rng.integers(low, high + 1))
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, size=2))
        box = (x0, y0, x0 + side, y0 + side)
        if _overlaps(box, boxes):
            continue
        kind = int(rng.integers(len(SHAPES)))
        colour = int(colour_order[len(boxes)])
        local = _mask(SHAPES[kind], side)
        mask = np.zeros((size, size), dtype=bool)
        mask[y0:y0 + side, x0:x0 + side] = local
        image[mask] = list(COLOURS.values())[colour]
        ys, xs = np.nonzero(mask)  # the tight box of the drawn pixels
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
        masks.append(mask)
        shapes.append(kind)
        colours.append(colour)
    objects = Objects(np.array(boxes, dtype=np.float32).reshape(-1, 4), np.stack(masks),
                      np.array(shapes, dtype=np.int64), np.array(colours, dtype=np.int64))
    return image, objects, caption(objects)


def patch_shapes(objects: Objects, side: int, patch: int) -> np.ndarray:
    """(n_patches,) each ``patch`` x ``patch`` cell's label in row-major order: 1 + the index into
    SHAPES of the object covering most of it, where objects cover at least a third of the cell, else
    0 (background). The masks must be at the processed ``side`` (nothing resized)."""
    if objects.masks.shape[1:] != (side, side) or side % patch:
        raise ValueError(f"masks of {objects.masks.shape[1:]} do not tile into {patch}-pixel patches of a {side} image")
    cells = side // patch
    cover = objects.masks.reshape(len(objects), cells, patch, cells, patch).sum((2, 4)).reshape(len(objects), -1)
    labels = np.zeros(cells * cells, dtype=np.int64)
    if len(objects):
        most = cover.argmax(0)
        covered = cover.max(0) * 3 >= patch * patch
        labels[covered] = objects.shapes[most[covered]] + 1
    return labels


def caption(objects: Objects) -> str:
    names = [f"a {name}" for name in objects.names()]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def scenes(n: int, size: int = 32, max_objects: int = 3, seed: int = 0):
    """``n`` scenes from one seed: (images, objects, captions)."""
    rng = np.random.default_rng(seed)
    made = [scene(rng, size, max_objects) for _ in range(n)]
    return [m[0] for m in made], [m[1] for m in made], [m[2] for m in made]
