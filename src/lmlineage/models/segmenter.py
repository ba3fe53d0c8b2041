"""The promptable segmenter (SAM, Kirillov et al. 2023, "Segment Anything", section 3, figure 4):
a heavy image encoder run once per image, a light prompt encoder and a light mask decoder run per
prompt.

- image encoder: ViT patches with learned absolute positions on the grid, windowed blocks with a
  few global ones (``blocks/windowed.py``), then the neck: a 1x1 and a 3x3 convolution down to the
  decoder's width, each followed by a channel LayerNorm;
- prompt encoder (``layers/prompts.py``), with the Fourier encoding (``layers/fourier.py``) it shares
  with the image embedding's grid;
- mask decoder: an IoU token and ``masks + 1`` mask tokens before the prompt tokens, the two-way
  transformer (``blocks/two_way.py``), the image embedding upscaled 4x by two transposed
  convolutions, and per mask token a hypernetwork MLP whose output, dotted with each upscaled
  pixel, is that mask's logit; an MLP on the IoU token predicts each mask's IoU. An ambiguous
  prompt (one point) reads the ``masks`` multimask outputs, an unambiguous one the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from ..blocks.init import init_weights
from ..blocks.two_way import TwoWayTransformer
from ..blocks.windowed import WindowedBlock
from ..core.config import PromptSpec, SegmenterConfig
from ..core.errors import UserError
from ..layers.fourier import FourierPositions
from ..layers.mlp import DeepMLP
from ..layers.norm import ChannelLayerNorm
from ..layers.prompts import PromptEncoder
from .image_capabilities import ImageCapabilities

NECK_EPS = 1e-6  # the neck's and the upscaling's channel norms (SAM's released code)


@dataclass
class SegmentationOutput:
    pred_masks: torch.Tensor  # (B, P, masks, 4g, 4g) mask logits, > 0 inside
    iou_scores: torch.Tensor  # (B, P, masks): each mask's predicted IoU
    image_embeddings: torch.Tensor  # (B, dim, g, g): the encoder's output, reusable for more prompts
    hidden_states: tuple[torch.Tensor, ...] | None = None  # the image encoder's, (B, g, g, d) each


class SegmenterImageEncoder(nn.Module):
    def __init__(self, cfg: SegmenterConfig):
        super().__init__()
        image, grid = cfg.image, cfg.image.size // cfg.image.patch
        self.image, self.grid = image, grid
        self.patches = nn.Conv2d(image.channels, cfg.d_model, kernel_size=image.patch, stride=image.patch)
        self.positions = nn.Parameter(torch.zeros(1, grid, grid, cfg.d_model))
        self.layers = nn.ModuleList(
            WindowedBlock(cfg, i, grid, None if i in cfg.global_layers else cfg.window) for i in range(cfg.n_layer))
        dim = cfg.prompt.dim
        self.neck = nn.ModuleDict(dict(
            conv1=nn.Conv2d(cfg.d_model, dim, kernel_size=1, bias=False), norm1=ChannelLayerNorm(dim, eps=NECK_EPS),
            conv2=nn.Conv2d(dim, dim, kernel_size=3, padding=1, bias=False), norm2=ChannelLayerNorm(dim, eps=NECK_EPS)))

    def forward(self, pixels: torch.Tensor, output_hidden_states: bool = False):
        """(B, C, H, W) -> ((B, dim, g, g), the hidden states after the positions and each block)."""
        expected = (self.image.channels, self.image.size, self.image.size)
        if tuple(pixels.shape[1:]) != expected:
            raise UserError(f"the model reads images of {expected[0]} x {expected[1]} x {expected[2]} "
                            f"(channels x height x width), got {tuple(pixels.shape[1:])}",
                            "process images with the checkpoint's preprocessor_config.json")
        x = self.patches(pixels).permute(0, 2, 3, 1) + self.positions
        hidden = [x] if output_hidden_states else None
        for layer in self.layers:
            x = layer(x)
            if hidden is not None:
                hidden.append(x)
        neck = self.neck
        x = neck.norm2(neck.conv2(neck.norm1(neck.conv1(x.permute(0, 3, 1, 2)))))
        return x, hidden


class MaskDecoder(nn.Module):
    def __init__(self, spec: PromptSpec):
        super().__init__()
        d, outputs = spec.dim, spec.masks + 1
        self.iou_token = nn.Parameter(torch.randn(1, d))
        self.mask_tokens = nn.Parameter(torch.randn(outputs, d))
        self.transformer = TwoWayTransformer(spec)
        self.upscale1 = nn.ConvTranspose2d(d, d // 4, kernel_size=2, stride=2)
        self.upscale_norm = ChannelLayerNorm(d // 4, eps=NECK_EPS)
        self.upscale2 = nn.ConvTranspose2d(d // 4, d // 8, kernel_size=2, stride=2)
        self.hypernetworks = nn.ModuleList(DeepMLP(d, d, d // 8, 3) for _ in range(outputs))
        self.iou_head = DeepMLP(d, spec.iou_hidden, outputs, spec.iou_depth)

    def forward(self, image, image_pe, sparse, dense):
        """``image`` and ``dense`` (B, d, g, g), ``image_pe`` (1, d, g, g), ``sparse`` (B, P, N, d) or
        None -> every output's mask logits (B, P, masks + 1, 4g, 4g) and predicted IoU (B, P, masks + 1)."""
        b, d, g, _ = image.shape
        prompts = 1 if sparse is None else sparse.shape[1]
        tokens = torch.cat([self.iou_token, self.mask_tokens]).expand(b * prompts, -1, -1)
        if sparse is not None:
            tokens = torch.cat([tokens, sparse.reshape(b * prompts, -1, d).to(tokens.dtype)], dim=1)
        image = (image + dense).repeat_interleave(prompts, 0).flatten(2).transpose(1, 2)
        image_pe = image_pe.flatten(2).transpose(1, 2).expand(b * prompts, -1, -1)
        tokens, image = self.transformer(tokens, image, image_pe)
        outputs = self.mask_tokens.shape[0]
        image = image.transpose(1, 2).reshape(b * prompts, d, g, g)
        upscaled = F.gelu(self.upscale2(F.gelu(self.upscale_norm(self.upscale1(image)))))
        weights = torch.stack([mlp(tokens[:, 1 + i]) for i, mlp in enumerate(self.hypernetworks)], dim=1)
        masks = weights @ upscaled.flatten(2)
        side = upscaled.shape[-1]
        return (masks.view(b, prompts, outputs, side, side),
                self.iou_head(tokens[:, 0]).view(b, prompts, outputs))


class SegmenterModel(ImageCapabilities, nn.Module):
    reads = "images"
    processor = None  # set by ``lmlineage.load`` from the checkpoint's preprocessor_config.json
    classifier = None  # no class head: `predict --image` says so
    what = "a promptable segmenter"
    segments_images = True  # its image embedding is a grid, not one vector

    def __init__(self, cfg: SegmenterConfig):
        super().__init__()
        if cfg.position.kind != "none":
            raise UserError(f"config position.kind={cfg.position.kind!r}: the segmenter's positions are its "
                            "grid's own", 'set position.kind to "none"')
        self.config = cfg
        grid = cfg.image.size // cfg.image.patch
        self.encoder = SegmenterImageEncoder(cfg)
        self.encoder.apply(partial(init_weights, cfg=cfg))  # a ViT's; the prompt side keeps torch's (SAM's code)
        self.fourier = FourierPositions(cfg.prompt.dim // 2)
        self.prompts = PromptEncoder(cfg.prompt.dim, cfg.image.size, grid, cfg.prompt.mask_channels, cfg.prompt.eps)
        self.decoder = MaskDecoder(cfg.prompt)

    @property
    def image_spec(self):
        return self.config.image

    def uses(self) -> list[str]:
        return ["segment IMAGE --point X,Y (a mask)", "eval (mean mask IoU)", "train (promptable segmentation)"]

    def forward(self, pixel_values=None, points=None, labels=None, boxes=None, masks=None, image_embeddings=None,
                multimask: bool = True, output_hidden_states: bool = False) -> SegmentationOutput:
        """``pixel_values`` (B, C, H, W), or ``image_embeddings`` (B, dim, g, g) computed before;
        ``points`` (B, P, N, 2) pixel x, y with ``labels`` (B, P, N) (1 on the object, 0 off it; see
        ``layers/prompts.py``), ``boxes`` (B, P, 4) x0, y0, x1, y1, ``masks`` (B, 1, 4g, 4g) coarse
        mask logits: P prompts per image, each giving its own masks."""
        if (pixel_values is None) == (image_embeddings is None):
            raise UserError("give the model pixel values or image embeddings, one of the two")
        hidden = None
        if pixel_values is not None:
            image_embeddings, hidden = self.encoder(pixel_values, output_hidden_states)
        if points is not None and labels is None:
            labels = torch.ones(points.shape[:-1], dtype=torch.long, device=points.device)
        sparse, dense = self.prompts(self.fourier, points, labels, boxes, masks, batch=image_embeddings.shape[0])
        logits, iou = self.decoder(image_embeddings, self.fourier.grid(self.encoder.grid)[None], sparse, dense)
        chosen = slice(1, None) if multimask else slice(0, 1)
        return SegmentationOutput(logits[:, :, chosen], iou[:, :, chosen], image_embeddings,
                                  None if hidden is None else tuple(hidden))
