"""Pictures where a person would look: a mask drawn over its image, with the prompts that asked for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

MASK_COLOUR = np.array([230, 30, 230])  # magenta: no generated shape has it
MIN_SIDE = 256  # small images are enlarged (nearest neighbour) to at least this many pixels a side


def draw_mask(image: np.ndarray, mask: np.ndarray, out, points=(), box=None, alpha: float = 0.55) -> Path:
    """``image`` (H, W, C) uint8 with ``mask`` (H, W) bool laid over it in magenta, its outline drawn,
    the prompt ``points`` ((x, y) pixels) as rings and ``box`` (x0, y0, x1, y1) as a rectangle; PNG."""
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]
    blended = rgb.astype(np.float32)
    blended[mask] = (1 - alpha) * blended[mask] + alpha * MASK_COLOUR
    scale = max(1, -(-MIN_SIDE // max(mask.shape)))
    big = np.asarray(Image.fromarray(blended.round().astype(np.uint8)).resize(
        (mask.shape[1] * scale, mask.shape[0] * scale), Image.NEAREST)).copy()
    inside = np.kron(mask, np.ones((scale, scale), dtype=bool))
    edge = inside & ~(np.roll(inside, 1, 0) & np.roll(inside, -1, 0) & np.roll(inside, 1, 1) & np.roll(inside, -1, 1))
    big[edge] = 255
    picture = Image.fromarray(big)
    pen = ImageDraw.Draw(picture)
    r = max(3, scale)
    for x, y in points:
        cx, cy = (x + 0.5) * scale, (y + 0.5) * scale
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 215, 0), outline=(0, 0, 0), width=max(1, r // 3))
    if box is not None:
        x0, y0, x1, y1 = box
        pen.rectangle([x0 * scale, y0 * scale, x1 * scale - 1, y1 * scale - 1], outline=(255, 215, 0),
                      width=max(1, scale // 2))
    out = Path(out)
    picture.save(out, format="PNG")
    return out
