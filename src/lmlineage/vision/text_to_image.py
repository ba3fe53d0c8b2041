"""Drawing from captions with a text-to-image model, and the picture of what it drew: a grid
with one row per caption, written as a PNG (each pixel enlarged so an 8x8 or 16x16 drawing can
be seen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError
from .captions import CaptionIds


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> (B, H, W, C) uint8."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def draw(model, tokenizer, captions: list[str], *, per_caption: int = 1, guidance: float = 3.0, steps: int = 50,
         sampler: str = "ddim", seed: int | None = 0, batch: int = 64) -> torch.Tensor:
    """``per_caption`` drawings of each caption, caption by caption: (len * per_caption, C, H, W)."""
    if any(not c or not c.strip() for c in captions):
        raise UserError("a caption is empty", "give the text to draw, e.g. --prompt \"a handwritten seven\"")
    ids = CaptionIds(tokenizer, model.config.max_positions)([c for c in captions for _ in range(per_caption)])
    drawn = [model.draw(ids[i:i + batch], guidance=guidance, steps=steps, sampler=sampler,
                        seed=None if seed is None else seed + i) for i in range(0, len(ids), batch)]
    return torch.cat(drawn)


def save_grid(images: torch.Tensor, rows: int, path, zoom: int = 4) -> Path:
    """Write (N, C, H, W) images in [-1, 1] as a ``rows`` x N/rows grid PNG, one pixel gap."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UserError(f"--out {path}: the grid is written as PNG", "give a path ending in .png")
    pictures = to_uint8(images)
    n, h, w, c = pictures.shape
    cols = n // rows
    canvas = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, c), 255, dtype=np.uint8)
    for k, picture in enumerate(pictures):
        r, col = divmod(k, cols)
        canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + col * (w + 1):1 + col * (w + 1) + w] = picture
    image = Image.fromarray(canvas[:, :, 0] if c == 1 else canvas)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.resize((image.width * zoom, image.height * zoom), Image.NEAREST).save(path)
    return path


def draw_grid(model, tokenizer, captions: list[str], out, per_caption: int = 8, **options) -> list[str]:
    """Draw ``per_caption`` of each caption into the PNG ``out``, one row per caption."""
    if Path(out).suffix.lower() != ".png":  # refused before the drawing, which takes a while
        raise UserError(f"--out {out}: the grid is written as PNG", "give a path ending in .png")
    save_grid(draw(model, tokenizer, captions, per_caption=per_caption, **options), len(captions), out)
    return captions
