"""SAM's two-way transformer (Kirillov et al. 2023, appendix A, figure 14): prompt tokens and
image embedding update each other. Each block: self-attention of the tokens, token-to-image
cross-attention, an MLP on the tokens, then image-to-token cross-attention, each followed by a
residual and a (post) LayerNorm; positions (the tokens' own embeddings, the image's Fourier grid)
are added to queries and keys at every attention, never to values. A last token-to-image
attention closes the stack."""

from __future__ import annotations

import torch
from torch import nn

from ..core.config import PromptSpec
from ..layers.mlp import MLP
from ..layers.split_attention import SplitAttention


class TwoWayBlock(nn.Module):
    def __init__(self, spec: PromptSpec, first: bool):
        super().__init__()
        d, heads, cross = spec.dim, spec.n_head, spec.dim // spec.downsample
        self.first = first  # the first block's self-attention reads the tokens without their positions
        self.self_attn = SplitAttention(d, heads, d // heads)
        self.norm1 = nn.LayerNorm(d, eps=spec.eps)
        self.token_to_image = SplitAttention(d, heads, cross // heads)
        self.norm2 = nn.LayerNorm(d, eps=spec.eps)
        self.mlp = MLP(d, spec.d_ff, "relu")
        self.norm3 = nn.LayerNorm(d, eps=spec.eps)
        self.image_to_token = SplitAttention(d, heads, cross // heads)
        self.norm4 = nn.LayerNorm(d, eps=spec.eps)

    def forward(self, tokens, image, token_pe, image_pe):
        """(B, N, d) tokens and their positions, (B, S, d) image and its positions."""
        if self.first:
            tokens = self.self_attn(tokens, tokens, tokens)  # replaced, not added (SAM's released code)
        else:
            q = tokens + token_pe
            tokens = tokens + self.self_attn(q, q, tokens)
        tokens = self.norm1(tokens)
        tokens = self.norm2(tokens + self.token_to_image(tokens + token_pe, image + image_pe, image))
        tokens = self.norm3(tokens + self.mlp(tokens))
        image = self.norm4(image + self.image_to_token(image + image_pe, tokens + token_pe, tokens))
        return tokens, image


class TwoWayTransformer(nn.Module):
    def __init__(self, spec: PromptSpec):
        super().__init__()
        self.layers = nn.ModuleList(TwoWayBlock(spec, first=i == 0) for i in range(spec.n_layer))
        d = spec.dim
        self.final_attn = SplitAttention(d, spec.n_head, d // spec.downsample // spec.n_head)
        self.final_norm = nn.LayerNorm(d)  # torch's default eps, as SAM's released code

    def forward(self, tokens: torch.Tensor, image: torch.Tensor, image_pe: torch.Tensor):
        """(B, N, d) tokens (their initial values are their positions), (B, S, d) image and positions
        -> the updated (tokens, image)."""
        token_pe, queries = tokens, tokens
        for layer in self.layers:
            queries, image = layer(queries, image, token_pe, image_pe)
        queries = self.final_norm(queries + self.final_attn(queries + token_pe, image + image_pe, image))
        return queries, image
