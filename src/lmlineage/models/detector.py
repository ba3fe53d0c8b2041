"""DETR (Carion et al. 2020, "End-to-End Object Detection with Transformers", section 3.2, fig. 2):
a CNN backbone (``layers/resnet.py``) makes a feature map, a 1x1 convolution brings it to d_model,
and its cells, flattened, are the encoder's sequence; the decoder turns ``n_queries`` learned
object queries into as many (class, box) predictions in parallel (no causal mask); the heads are
``heads/detection.py``.

Both Transformer stacks are the one ``Stack`` with post-norm blocks (the Transformer's layout); the
encoder has no final norm, the decoder has one, which also normalizes each earlier layer's output
for the auxiliary losses. Positions never enter the residual stream: the 2-D sine positions of the
cells are added to the queries and keys of every encoder layer and to the keys of every
cross-attention, the object queries (a learned embedding) to the queries and keys of the decoder's
self-attention and to the queries of its cross-attention (appendix A.3); the decoder's input
itself starts at zero. That is the ``offset`` / ``memory_offset`` of ``Block.forward``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..blocks.init import init_weights
from ..blocks.stack import Stack
from ..core.config import DetectorConfig
from ..core.errors import UserError
from ..heads.detection import DetectionHead
from ..layers.resnet import ResNet
from ..layers.sine_2d import sine_2d
from .image_capabilities import ImageCapabilities


@dataclass
class DetectionOutput:
    logits: torch.Tensor  # (B, Q, n_classes + 1), the last index "no object"
    pred_boxes: torch.Tensor  # (B, Q, 4) centre x, centre y, width, height as fractions of the image
    last_hidden_state: torch.Tensor  # the decoder's, after its final norm
    # (logits, boxes) of every earlier decoder layer (through the final norm and the same heads)
    auxiliary: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: tuple[torch.Tensor, ...] | None = None  # the projected cells, then each layer's output
    decoder_hidden_states: tuple[torch.Tensor, ...] | None = None  # the zero input, then each layer's output


class Detector(ImageCapabilities, nn.Module):
    reads = "images"
    processor = None  # set by ``lmlineage.load`` from the checkpoint's preprocessor_config.json
    tokenizer = None
    classifier = None  # no class head over the whole image: its classes are per object (``detect``)
    what = "a detector"
    detects_objects = True  # and no one vector per image: its outputs are per object query

    def __init__(self, cfg: DetectorConfig):
        super().__init__()
        if cfg.position.kind != "none":
            raise UserError(f"config position.kind={cfg.position.kind!r}: DETR's positions are its 2-D sines and "
                            "object queries", 'set position.kind to "none"')
        if cfg.decoder.n_layer not in (None, cfg.n_layer):
            raise UserError(f"config decoder.n_layer={cfg.decoder.n_layer} differs from n_layer={cfg.n_layer}",
                            "DETR's encoder and decoder are equally deep here: give one n_layer")
        self.config = cfg
        self.backbone = ResNet(cfg.image.channels, cfg.backbone)
        self.input_projection = nn.Conv2d(self.backbone.channels, cfg.d_model, kernel_size=1)
        self.query_position_embeddings = nn.Embedding(cfg.n_queries, cfg.d_model)
        self.encoder = Stack(cfg.replace(norm={"final": False}), causal=False, positions=("none",), tokens=False)
        self.decoder = Stack(cfg, causal=False, cross_attention=True, positions=("none",), tokens=False)
        self.head = DetectionHead(cfg.d_model, len(cfg.labels or ()) or 1)
        for part in (self.encoder, self.decoder, self.head):
            part.apply(partial(init_weights, cfg=cfg))
        # N(0, 1), as the paper's code leaves nn.Embedding: with the decoder's input at zero the queries
        # are all that tells its slots apart; at init_std (0.02) every slot starts predicting the same box.
        nn.init.normal_(self.query_position_embeddings.weight)

    @property
    def max_positions(self) -> int:
        return self.config.n_queries

    @property
    def image_spec(self):
        return self.config.image

    def uses(self) -> list[str]:
        return ["detect (boxes drawn on an image)", "eval (mAP@0.5)", "train (object detection)"]

    def text_refusal(self) -> tuple[str, str]:
        return ("detector: it finds objects in images and does not generate text",
                "use it with lmlineage " + ", ".join(self.uses()))

    def encode(self, pixel_values: torch.Tensor, output_hidden_states: bool = False):
        """(B, C, H, W) -> (encoder output (B, S, d), cell positions (S, d), encoder states or None)."""
        features = self.input_projection(self.backbone(pixel_values))
        b, d, height, width = features.shape
        cells = features.flatten(2).transpose(1, 2)
        positions = sine_2d(height, width, d, device=cells.device, dtype=cells.dtype).expand(b, -1, -1)
        memory, states = self.encoder(None, inputs_embeds=cells, offset=positions,
                                      output_hidden_states=output_hidden_states)
        return memory, positions, states

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool = False,
                auxiliary: bool = False) -> DetectionOutput:
        """``auxiliary``: also the predictions of every earlier decoder layer (training's auxiliary losses)."""
        memory, positions, encoder_states = self.encode(pixel_values, output_hidden_states)
        b = memory.shape[0]
        queries = self.query_position_embeddings.weight.unsqueeze(0).expand(b, -1, -1)
        hidden, decoder_states = self.decoder(None, inputs_embeds=torch.zeros_like(queries), encoder_out=memory,
                                              offset=queries, memory_offset=positions,
                                              output_hidden_states=output_hidden_states or auxiliary)
        logits, boxes = self.head(hidden)
        earlier = None
        if auxiliary:
            earlier = [self.head(self.decoder.norm(state)) for state in decoder_states[1:-1]]
        return DetectionOutput(logits, boxes, hidden, earlier, memory,
                               tuple(encoder_states) if encoder_states else None,
                               tuple(decoder_states) if output_hidden_states and decoder_states else None)
