"""ViT's input (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", section 3.1, eq. 1):
the image cut into P x P patches, each flattened and linearly projected (one convolution whose
kernel and stride are the patch), a learnable [class] embedding put before them, and learned 1-D
position embeddings added: z0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos. With ``image.stem``,
3x3 convolutions first turn the pixels into a feature map of the same side, and the patches are
cut from it (a hybrid input, section 3.1)."""

from __future__ import annotations

import torch
from torch import nn

from ..core.config import ImageSpec
from ..core.errors import UserError


class PatchEmbeddings(nn.Module):
    def __init__(self, image: ImageSpec, dim: int, dropout: float = 0.0, std: float = 0.02):
        super().__init__()
        self.image = image
        widths = [image.channels, *image.stem]
        self.stem = nn.Sequential(*[layer for c_in, c_out in zip(widths, widths[1:])
                                    for layer in (nn.Conv2d(c_in, c_out, 3, padding=1), nn.GELU())])
        self.proj = nn.Conv2d(widths[-1], dim, kernel_size=image.patch, stride=image.patch, bias=image.patch_bias)
        self.cls = nn.Parameter(torch.empty(1, 1, dim))
        self.positions = nn.Parameter(torch.empty(1, image.n_patches + 1, dim))
        self.drop = nn.Dropout(dropout)
        for p in (self.cls, self.positions):  # appendix B.1.1's N(0, 0.02)-like start, truncated at 2 std
            nn.init.trunc_normal_(p, std=std, a=-2 * std, b=2 * std)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) pixel values -> (B, 1 + N, d): [class], then the patches row by row."""
        expected = (self.image.channels, self.image.size, self.image.size)
        if tuple(pixels.shape[1:]) != expected:
            raise UserError(f"the model reads images of {expected[0]} x {expected[1]} x {expected[2]} "
                            f"(channels x height x width), got {tuple(pixels.shape[1:])}",
                            "process images with the checkpoint's preprocessor_config.json")
        x = self.proj(self.stem(pixels)).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
        return self.drop(x + self.positions.to(x.dtype))
