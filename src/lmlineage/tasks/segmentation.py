"""Promptable segmentation (SAM, Kirillov et al. 2023, section 3 and appendix A, "Losses"): from
one point on an object the model gives several masks; the mask loss, focal plus dice in a 20:1
ratio, back-propagates from the mask with the lowest loss only (an ambiguous prompt may mean any
of them), and the IoU head learns each mask's IoU with the ground truth by mean squared error.
The paper's interactive rounds (more points from the error regions) are left out: one point per
example.

Scored by the mean IoU of the mask the model ranks highest from one point at each held-out
object's centre (section 7.1's single-point evaluation); the oracle IoU, the best of the masks,
beside it.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .protocol import GENERIC_OPTIONS, Task, TrainResult

FOCAL_WEIGHT, DICE_WEIGHT, IOU_WEIGHT = 20.0, 1.0, 1.0  # appendix A: focal : dice = 20 : 1; IoU MSE times 1
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0  # Lin et al. 2017's defaults, as SAM's training code


def focal_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per mask (..., H, W) -> (...): the mean over pixels of Lin et al. 2017's focal loss."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_true = p * targets + (1 - p) * (1 - targets)
    alpha = FOCAL_ALPHA * targets + (1 - FOCAL_ALPHA) * (1 - targets)
    return (alpha * ce * (1 - p_true) ** FOCAL_GAMMA).flatten(-2).mean(-1)


def dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per mask (..., H, W) -> (...): 1 - the soft Dice coefficient (Milletari et al. 2016)."""
    p, t = logits.sigmoid().flatten(-2), targets.flatten(-2)
    return 1 - (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1)


def mask_iou(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per mask (..., H, W) bool -> (...): intersection over union (1 where both are empty)."""
    inter = (predicted & targets).flatten(-2).sum(-1).float()
    union = (predicted | targets).flatten(-2).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


class SegmentationTask(Task):
    reads = "images"
    options = GENERIC_OPTIONS - {"tokenizer", "vocab_size", "context"}
    default_data = "shapes"

    def __init__(self, model):
        super().__init__()
        self.model = model

    @classmethod
    def for_tokenizer(cls, model, tokenizer, **checkpoints) -> "SegmentationTask":
        return cls(model)

    @classmethod
    def image_split(cls, images, processor):
        from ..vision.prompts import PointPrompts

        return PointPrompts.process(images, processor)

    def predict(self, pixels, targets):
        """(every mask's logits at the targets' size (B, masks, H, W), predicted IoUs (B, masks), true masks)."""
        from ..vision.prompts import split_target

        masks, points = split_target(targets)
        out = self.model(pixels, points=points[:, None, None, :],
                         labels=torch.ones(len(points), 1, 1, dtype=torch.long, device=points.device))
        logits = out.pred_masks[:, 0].float()
        if logits.shape[-2:] != masks.shape[-2:]:  # low-resolution masks, upscaled as SAM's post-processing
            logits = F.interpolate(logits, size=masks.shape[-2:], mode="bilinear", align_corners=False)
        return logits, out.iou_scores[:, 0].float(), masks

    def losses(self, logits, iou, masks) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-example loss (B,), each mask's true IoU (B, masks))."""
        targets = masks[:, None].expand_as(logits)
        per_mask = FOCAL_WEIGHT * focal_loss(logits, targets) + DICE_WEIGHT * dice_loss(logits, targets)
        true_iou = mask_iou(logits > 0, targets > 0.5)
        iou_loss = F.mse_loss(iou, true_iou, reduction="none").mean(-1)
        return per_mask.min(-1).values + IOU_WEIGHT * iou_loss, true_iou

    def forward(self, batch):
        return self.losses(*self.predict(*batch))[0].mean()

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        total, chosen, oracle, count = 0.0, 0.0, 0.0, 0
        for pixels, targets in batches:
            logits, iou, masks = self.predict(pixels, targets)
            loss, true_iou = self.losses(logits, iou, masks)
            total += float(loss.sum())
            chosen += float(true_iou.gather(1, iou.argmax(1, keepdim=True)).sum())
            oracle += float(true_iou.max(1).values.sum())
            count += len(targets)
        n = max(count, 1)
        return {"loss": total / n, "nats": total, "tokens": count, "mean_iou": chosen / n, "oracle_iou": oracle / n,
                "objects": count}

    def image_sample(self, split) -> str:
        pixels, targets = next(split.batches(1))
        device = next(self.model.parameters()).device
        with torch.no_grad():
            logits, iou, masks = self.eval().predict(pixels.to(device), targets.to(device))
        best = int(iou[0].argmax())
        true = float(mask_iou(logits[0, best] > 0, masks[0] > 0.5))
        return (f"held-out object 0, prompted at its centre: mask {best + 1} of {len(iou[0])}, predicted IoU "
                f"{float(iou[0, best]):.2f}, true IoU {true:.2f}")

    @classmethod
    def report(cls, result: TrainResult) -> str:
        m = result.metrics
        return (f"val loss {result.val_loss:.4f} | mean mask IoU {m['mean_iou']:.4f} from one point per object "
                f"(oracle {m['oracle_iou']:.4f}) on {m['objects']} held-out objects | {result.steps} steps | "
                f"checkpoints in {result.out}" + (f"\n{result.sample}" if result.sample else ""))

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return (f"loss {metrics['loss']:.4f} | mean mask IoU {metrics['mean_iou']:.4f} from one point per object "
                f"(oracle {metrics['oracle_iou']:.4f}) | {metrics['objects']} objects")
