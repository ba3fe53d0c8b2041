"""Rotary position embeddings (Su et al. 2021, RoFormer): rotate pairs of query/key channels
by an angle proportional to the position, so q.k depends only on the relative offset.

Two layouts of the pairs exist in the wild: ``half`` pairs channel i with i + d/2 (GPT-NeoX,
the Hugging Face LLaMA checkpoints) and ``interleaved`` pairs 2i with 2i+1 (the RoFormer
paper, GPT-J, Meta's original LLaMA and GGUF files). ``fraction`` < 1 rotates only the
first channels (GPT-NeoX's partial rotary)."""

from __future__ import annotations

import torch
from torch import nn


class Rotary(nn.Module):
    def __init__(self, head_dim: int, base: float = 10000.0, fraction: float = 1.0, layout: str = "half"):
        super().__init__()
        self.rot_dim = int(head_dim * fraction)
        self.rot_dim -= self.rot_dim % 2
        self.layout = layout
        inv_freq = 1.0 / (base ** (torch.arange(0, self.rot_dim, 2, dtype=torch.float32) / self.rot_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def angles(self, positions: torch.Tensor):
        """(B, T) positions -> cos, sin of shape (B, 1, T, rot_dim) in the layout's order."""
        freqs = positions[..., None].float() * self.inv_freq  # (B, T, rot_dim / 2)
        if self.layout == "half":
            freqs = torch.cat([freqs, freqs], dim=-1)
        else:
            freqs = freqs.repeat_interleave(2, dim=-1)
        return freqs.cos()[:, None], freqs.sin()[:, None]

    def _rotate(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "half":
            x1, x2 = x.chunk(2, dim=-1)
            return torch.cat([-x2, x1], dim=-1)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack([-x2, x1], dim=-1).flatten(-2)

    def _apply_to(self, x, cos, sin):
        rot, rest = x[..., : self.rot_dim], x[..., self.rot_dim :]
        rot = (rot.float() * cos + self._rotate(rot.float()) * sin).to(x.dtype)
        return torch.cat([rot, rest], dim=-1) if rest.shape[-1] else rot

    def forward(self, q: torch.Tensor, k: torch.Tensor, positions: torch.Tensor):
        """The attention ``qk_transform`` hook: rotate q and k at their positions."""
        cos, sin = self.angles(positions.expand(q.shape[0], -1) if positions.shape[0] == 1 else positions)
        return self._apply_to(q, cos, sin), self._apply_to(k, cos, sin)
