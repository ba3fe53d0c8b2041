"""Supervised image classification (ViT, Dosovitskiy et al. 2021, section 3): cross-entropy of
the class head's logits against each image's label; scored by held-out accuracy."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .protocol import GENERIC_OPTIONS, Task, TrainResult


class ImageClassificationTask(Task):
    reads = "images"
    options = GENERIC_OPTIONS - {"tokenizer", "vocab_size", "context"}  # images have no tokenizer or context

    def __init__(self, model):
        super().__init__()
        self.model = model

    @classmethod
    def for_tokenizer(cls, model, tokenizer, **checkpoints) -> "ImageClassificationTask":
        return cls(model)

    @classmethod
    def image_config(cls, images) -> dict:
        images.require_labels()
        return {"labels": images.label_names}

    @classmethod
    def image_split(cls, images, processor):
        from ..vision.batches import ImageSplit

        return ImageSplit.process(images, processor)

    def image_sample(self, split) -> str:
        """The first held-out image, classified."""
        with torch.no_grad():
            pixels, labels = split.collate([0])
            probabilities = self.model.eval()(pixels.to(next(self.model.parameters()).device)).task_logits.softmax(-1)[0]
        names = self.model.config.labels
        best = int(probabilities.argmax())
        return (f"held-out image 0: predicted {names[best]} ({float(probabilities[best]):.2f}), "
                f"labelled {names[int(labels[0])]}")

    def forward(self, batch):
        pixels, labels = batch
        return F.cross_entropy(self.model(pixels).task_logits.float(), labels)

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        nats, correct, count = 0.0, 0, 0
        for pixels, labels in batches:
            logits = self.model(pixels).task_logits.float()
            nats += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += int((logits.argmax(-1) == labels).sum())
            count += len(labels)
        return {"loss": nats / max(count, 1), "nats": nats, "tokens": count, "accuracy": correct / max(count, 1),
                "images": count}

    @classmethod
    def report(cls, result: TrainResult) -> str:
        m = result.metrics
        return (f"val loss {result.val_loss:.4f} | accuracy {m['accuracy']:.4f} on {m['images']} held-out images | "
                f"{result.steps} steps | checkpoints in {result.out}" + (f"\n{result.sample}" if result.sample else ""))

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return f"loss {metrics['loss']:.4f} | accuracy {metrics['accuracy']:.4f} | {metrics['images']} images"
