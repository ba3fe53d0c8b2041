"""Object detection with DETR's set loss (Carion et al. 2020, section 3.1): the model's (class, box)
predictions matched one-to-one to each scene's objects, then cross-entropy, L1 and generalized IoU
(``objectives/set_prediction.py``), on every decoder layer where the config asks for auxiliary
losses; scored on held-out scenes by mAP@0.5 (``pycocotools``)."""

from __future__ import annotations

import torch

from ..evaluation.detection import detections, mean_average_precision
from ..objectives.set_prediction import set_loss
from .protocol import GENERIC_OPTIONS, Task, TrainResult


class DetectionTask(Task):
    reads = "scenes"
    options = GENERIC_OPTIONS - {"tokenizer", "vocab_size", "context"}  # images have no tokenizer or context
    default_data = "shapes"

    def __init__(self, model):
        super().__init__()
        self.model = model

    @classmethod
    def for_tokenizer(cls, model, tokenizer, **checkpoints) -> "DetectionTask":
        return cls(model)

    def forward(self, batch):
        pixels, targets = batch
        loss_spec = self.model.config.loss
        out = self.model(pixels, auxiliary=loss_spec.auxiliary)
        return set_loss(out.logits, out.pred_boxes, targets, loss_spec, out.auxiliary or ())[0]

    @torch.no_grad()
    def evaluate(self, batches, forward=None, sizes=None) -> dict:
        """Set loss (of the last layer) and mAP over the scenes; ``sizes``: each scene's own (height,
        width) in pixels, the frame its boxes are scored in (None: the processed image's)."""
        loss_spec = self.model.config.loss
        summed, found, truth, frames = 0.0, [], [], []
        for pixels, targets in batches:
            out = self.model(pixels)
            summed += float(set_loss(out.logits, out.pred_boxes, targets, loss_spec)[0]) * len(targets)
            for logits, boxes, target in zip(out.logits, out.pred_boxes, targets):
                frame = tuple(pixels.shape[-2:]) if sizes is None else tuple(sizes[len(frames)])
                found.append(detections(logits, boxes, *frame))
                truth.append({k: v.cpu() for k, v in target.items()})
                frames.append(frame)
        n_classes = self.model.head.class_labels_classifier.out_features - 1
        count = len(frames)
        return {"loss": summed / max(count, 1), "nats": summed, "tokens": count,
                **mean_average_precision(found, truth, frames, n_classes), "images": count}

    @classmethod
    def report(cls, result: TrainResult) -> str:
        m = result.metrics
        return (f"val loss {result.val_loss:.4f} | mAP@0.5 {m['map50']:.4f} | mAP@[.5:.95] {m['map']:.4f} on "
                f"{m['images']} held-out scenes | {result.steps} steps | checkpoints in {result.out}"
                + (f"\n{result.sample}" if result.sample else ""))

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return (f"loss {metrics['loss']:.4f} | mAP@0.5 {metrics['map50']:.4f} | mAP@[.5:.95] {metrics['map']:.4f} | "
                f"{metrics['images']} images")
