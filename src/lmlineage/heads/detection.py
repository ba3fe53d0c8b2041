"""DETR's prediction heads (Carion et al. 2020, section 3.2, "Prediction feed-forward networks"):
each decoder output is classified into the object classes plus a "no object" class (the last
index), and a 3-layer ReLU MLP predicts its box as (centre x, centre y, width, height), sigmoid to
fractions of the image. Names follow ``transformers``' DetrForObjectDetection."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BoxMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, out: int, n_layers: int = 3):
        super().__init__()
        widths = [dim] + [hidden] * (n_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:] + [out]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class DetectionHead(nn.Module):
    """(..., Q, d) decoder outputs -> class logits (..., Q, n_classes + 1) and boxes (..., Q, 4)."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.class_labels_classifier = nn.Linear(dim, n_classes + 1)
        self.bbox_predictor = BoxMLP(dim, dim, 4)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.class_labels_classifier(hidden), self.bbox_predictor(hidden).sigmoid()
