"""Where an image model looked: attention rollout over patches (Abnar & Zuidema 2020, as ViT's
figure 6 and appendix D.8 use it): each layer's attention averaged over heads, the residual
connection added as the identity (0.5 A + 0.5 I, rows renormalised), the layers multiplied in
order; the [class] token's row over the patches is the map, drawn over the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError


def rollout(attentions) -> torch.Tensor:
    """Per-layer attention probabilities, each (B, H, T, T) with [class] first -> (B, grid, grid):
    how much the final [class] vector draws on each patch, summing to at most 1."""
    eye = torch.eye(attentions[0].shape[-1], dtype=attentions[0].dtype, device=attentions[0].device)
    mixed = eye
    for weights in attentions:
        layer = 0.5 * weights.mean(1) + 0.5 * eye
        mixed = (layer / layer.sum(-1, keepdim=True)) @ mixed
    patches = mixed[:, 0, 1:]
    grid = int(round(patches.shape[-1] ** 0.5))
    return patches.reshape(-1, grid, grid)


def draw(image: np.ndarray, weights: np.ndarray, path, title: str | None = None) -> Path:
    """The image beside it with the map laid over it (each patch's share, brightest where most), as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UserError(f"{path}: the attention map is written as PNG", "give a path ending in .png")
    shown = image[:, :, 0] if image.shape[2] == 1 else image
    cmap = "gray" if image.shape[2] == 1 else None
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
    axes[0].imshow(shown, cmap=cmap)
    axes[0].set_title("image")
    axes[1].imshow(shown, cmap=cmap)
    overlay = axes[1].imshow(weights, cmap="inferno", alpha=0.6, extent=(-0.5, image.shape[1] - 0.5,
                                                                          image.shape[0] - 0.5, -0.5))
    axes[1].set_title("attention rollout from [class]")
    fig.colorbar(overlay, ax=axes[1], fraction=0.046)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
