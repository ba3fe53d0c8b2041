"""DETR's set prediction loss (Carion et al. 2020, section 3.1): a bipartite matching between the
N predictions and the ground-truth objects (padded with "no object"), then a loss on the matched pairs.

- ``match``: the optimal one-to-one assignment (the Hungarian algorithm,
  ``scipy.optimize.linear_sum_assignment``) under the cost of eq. 1 and appendix A.4:
  ``class_cost * -p(class) + bbox_cost * L1 + giou_cost * -GIoU``; the class term uses the
  probability, not its log ("commensurable" with the box terms).
- ``set_loss``: eq. 2: cross-entropy over every prediction (unmatched ones are "no object",
  weighted ``no_object_weight`` = 0.1 "to account for class imbalance"), and for matched ones the
  L1 and generalized IoU (Rezatofighi et al. 2019) box losses, each normalized by the number of
  objects in the batch; with auxiliary outputs, the same loss on every decoder layer (section 3.2).

Boxes are (centre x, centre y, width, height) fractions of the image, as the box head predicts them.
An objective owns no parameters: the weights come from the model's ``loss`` config.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from ..core.errors import UserError


def corners(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (x0, y0, x1, y1)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def centres(boxes: torch.Tensor) -> torch.Tensor:
    """(x0, y0, x1, y1) -> (cx, cy, w, h)."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), dim=-1)


def area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, M) IoU of corner boxes a (N, 4) and b (M, 4), and the (N, M) areas of their unions."""
    top_left = torch.max(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.min(a[:, None, 2:], b[None, :, 2:])
    overlap = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = area(a)[:, None] + area(b)[None, :] - overlap
    return overlap / union, union


def generalized_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, M) GIoU of corner boxes (Rezatofighi et al. 2019, algorithm 1): IoU minus the share of the
    smallest enclosing box that the union leaves empty; in [-1, 1], 1 for the same box."""
    iou, union = pairwise_iou(a, b)
    top_left = torch.min(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.max(a[:, None, 2:], b[None, :, 2:])
    enclosing = (bottom_right - top_left).clamp(min=0).prod(-1)
    return iou - (enclosing - union) / enclosing


@torch.no_grad()
def match(logits: torch.Tensor, boxes: torch.Tensor, targets: list[dict], loss) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image, (prediction indices, target indices) of the cheapest one-to-one assignment.
    ``logits`` (B, Q, C + 1), ``boxes`` (B, Q, 4); each target: ``labels`` (k,), ``boxes`` (k, 4)."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        raise UserError("DETR's matching uses scipy's Hungarian algorithm, and scipy is not installed",
                        "pip install scipy  (or: pip install -e '.[detection]')") from None

    out = []
    probabilities = logits.float().softmax(-1)
    for b, target in enumerate(targets):
        if not len(target["labels"]):
            out.append((np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)))
            continue
        cost = (loss.class_cost * -probabilities[b][:, target["labels"]]
                + loss.bbox_cost * torch.cdist(boxes[b].float(), target["boxes"].float(), p=1)
                + loss.giou_cost * -generalized_iou(corners(boxes[b].float()), corners(target["boxes"].float())))
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        out.append((rows.astype(np.int64), cols.astype(np.int64)))
    return out


def layer_loss(logits: torch.Tensor, boxes: torch.Tensor, targets: list[dict], loss, n_objects: float,
               matching=None) -> dict[str, torch.Tensor]:
    """The loss of one layer's predictions: ``{"classes", "l1", "giou"}``, each unweighted."""
    matching = match(logits, boxes, targets, loss) if matching is None else matching
    n_classes = logits.shape[-1] - 1
    wanted = torch.full(logits.shape[:2], n_classes, dtype=torch.long, device=logits.device)  # "no object"
    for b, (rows, cols) in enumerate(matching):
        wanted[b, torch.as_tensor(rows, device=logits.device)] = targets[b]["labels"][torch.as_tensor(cols)].to(logits.device)
    weights = torch.ones(n_classes + 1, device=logits.device)
    weights[-1] = loss.no_object_weight
    classes = F.cross_entropy(logits.float().transpose(1, 2), wanted, weight=weights)
    batch = torch.cat([torch.full((len(rows),), b, dtype=torch.long) for b, (rows, _) in enumerate(matching)])
    rows = torch.cat([torch.as_tensor(rows, dtype=torch.long) for rows, _ in matching])
    predicted = boxes[batch.to(boxes.device), rows.to(boxes.device)].float()
    true = torch.cat([t["boxes"][torch.as_tensor(cols, dtype=torch.long)] for t, (_, cols) in
                      zip(targets, matching)]).to(predicted)
    l1 = F.l1_loss(predicted, true, reduction="sum") / n_objects
    giou = (1 - torch.diag(generalized_iou(corners(predicted), corners(true)))).sum() / n_objects
    return {"classes": classes, "l1": l1, "giou": giou}


def set_loss(logits: torch.Tensor, boxes: torch.Tensor, targets: list[dict], loss,
             auxiliary: list[tuple[torch.Tensor, torch.Tensor]] = ()) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 2 summed over the last layer and each ``auxiliary`` (logits, boxes) of the earlier ones;
    returns (the weighted total, its terms of the last layer)."""
    n_objects = max(float(sum(len(t["labels"]) for t in targets)), 1.0)
    total, last = 0.0, None
    for layer_logits, layer_boxes in [*auxiliary, (logits, boxes)]:
        terms = layer_loss(layer_logits, layer_boxes, targets, loss, n_objects)
        total = total + terms["classes"] + loss.bbox_weight * terms["l1"] + loss.giou_weight * terms["giou"]
        last = terms
    return total, {k: float(v.detach()) for k, v in last.items()}
