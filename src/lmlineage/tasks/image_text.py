"""Contrastive image-text pre-training (CLIP, Radford et al. 2021, section 2.3 and figure 3), as the
trainer sees it: ``task((pixels, caption ids)) -> loss``.

Each batch of N (image, caption) pairs is scored N x N by the model (scaled cosines of the
projected, normalised summaries) and the symmetric in-batch contrastive loss is taken
(``objectives.contrastive``, m = 0, directions averaged), with the model's learned temperature
clipped so the logits scale by at most 100 (section 2.5).

Evaluation: the held-out images against their captions (one each), recall@1 both ways: a
retrieved caption (image) counts when its text is the query's own caption (digits' captions repeat
per class, so any image of the class is a right answer); and zero-shot accuracy: each class's
prompts embedded, averaged and normalised (section 3.1.4's ensemble), each image given the nearest
class.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..core.errors import UserError
from ..objectives.contrastive import InBatchContrastive
from .protocol import GENERIC_OPTIONS, Task

MAX_SCALE = 100.0  # section 2.5: the temperature is clipped so the logits scale by at most 100
START = "<|startoftext|>"  # CLIP's [SOS]; a trained BPE's <|endoftext|> is its [EOS] (and its padding)


class ImageTextContrastiveTask(Task):
    reads = "captions"
    options = GENERIC_OPTIONS - {"context"}  # a caption is as long as it is
    special_tokens = (START,)  # ids 0 and 1 in a trained BPE: never 2, the id transformers reads as legacy

    def __init__(self, model, tokenizer=None):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.objective = InBatchContrastive(margin=0.0, directions="mean")

    @classmethod
    def special_ids(cls, tokenizer) -> dict:
        """The start, end-of-text and padding ids the text tower reads (padding: the end-of-text
        token where the tokenizer has no pad, as CLIP's tokenizer pads)."""
        eos, bos = tokenizer.eos_id, tokenizer.bos_id  # <|startoftext|> is a BPE's start where it has one
        if eos is None or bos is None or bos == eos:  # the text is read at its first end-of-text token
            raise UserError(f"the {tokenizer.kind} tokenizer lacks a start or end-of-text token, which the text tower "
                            "reads", "leave out --tokenizer (a BPE with <|startoftext|> and <|endoftext|> is trained)")
        if eos == 2 and eos != tokenizer.vocab_size - 1:
            raise UserError("the tokenizer's end-of-text id is 2, which CLIP checkpoints read as 'the largest id'",
                            "leave out --tokenizer (a BPE whose end-of-text id is 1 is trained)")
        return {"bos_id": bos, "eos_id": eos, "pad_id": eos if tokenizer.pad_id is None else tokenizer.pad_id}

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 2) -> dict:
        if batch_size < 2:
            raise UserError("the contrastive loss takes its negatives from the other pairs of the batch",
                            "use --batch-size 2 or more")
        return cls.special_ids(tokenizer)

    @classmethod
    def caption_tokens(cls, tokenizer) -> tuple[int, int, int]:
        ids = cls.special_ids(tokenizer)
        return ids["bos_id"], ids["eos_id"], ids["pad_id"]

    @classmethod
    def image_processor(cls, side: int):
        from ..vision.processor import ImageProcessor

        return ImageProcessor.clip(side)

    @classmethod
    def for_tokenizer(cls, model, tokenizer, **checkpoints) -> "ImageTextContrastiveTask":
        from ..vision.captions import ImageTextProcessor

        return cls(model, tokenizer.text if isinstance(tokenizer, ImageTextProcessor) else tokenizer)

    def scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp().clamp(max=MAX_SCALE)

    def forward(self, batch):
        pixels, texts = batch
        return self.objective.loss(self.model.embed_images(pixels), self.model.embed_texts(texts), scale=self.scale())

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        images, texts, captions, nats, weights = [], [], [], 0.0, 0
        for pixels, ids in batches:
            x, y = self.model.embed_images(pixels).float(), self.model.embed_texts(ids).float()
            images.append(x)
            texts.append(y)
            captions.extend(tuple(row) for row in ids.tolist())
            if len(x) > 1:  # a lone pair has no negatives
                nats += float(self.objective.loss(x, y, scale=self.scale())) * len(x)
                weights += len(x)
        if not images:
            raise UserError("the held-out split has no captioned images to evaluate", "use a larger set")
        return {"loss": nats / max(weights, 1), "nats": nats, "tokens": weights,
                **recall_at_1(torch.cat(images), torch.cat(texts), captions)}

    @torch.no_grad()
    def class_embeddings(self, labels: list[str], templates=None) -> torch.Tensor:
        """(K, p): each label's prompts embedded, averaged, normalised (section 3.1.4)."""
        from ..vision.captions import encode_captions, prompts

        cfg, device = self.model.config, self.model.logit_scale.device
        out = []
        for label in labels:
            ids = encode_captions(self.tokenizer, prompts(label, templates), cfg.bos_id, cfg.eos_id, cfg.pad_id,
                                  cfg.max_positions)
            out.append(F.normalize(self.model.embed_texts(ids.to(device)).float().mean(0), dim=-1))
        return torch.stack(out)

    @torch.no_grad()
    def zero_shot(self, pixels: torch.Tensor, labels: list[str], templates=None, batch_size: int = 256) -> torch.Tensor:
        """(N, K) probabilities of each image's class among ``labels``, from prompts alone."""
        classes = self.class_embeddings(labels, templates)
        images = torch.cat([self.model.embed_images(pixels[i:i + batch_size].to(classes.device)).float()
                            for i in range(0, len(pixels), batch_size)])
        return (self.scale() * images @ classes.T).softmax(-1)

    def zero_shot_accuracy(self, pixels: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> dict:
        predicted = self.zero_shot(pixels, labels).argmax(-1).cpu()
        return {"zero_shot_accuracy": float((predicted == targets).float().mean()), "classes": len(labels)}

    def held_out_scores(self, split, names, run=None, seed: int = 0) -> tuple[dict, str]:
        """Zero-shot accuracy on the held-out images where they have labels, from the classes'
        prompts alone; the sample is the first image's zero-shot class (the weights as trained)."""
        if split.labels is None or not names:
            return {}, ""
        probabilities = self.zero_shot(split.pixels[:1], names)[0]
        first = int(probabilities.argmax())
        return self.zero_shot_accuracy(split.pixels, split.labels, names), (
            f"held-out image 0, zero-shot: {names[first]} ({float(probabilities[first]):.2f}), "
            f"labelled {names[int(split.labels[0])]}")

    @classmethod
    def metrics(cls, evaluation: dict) -> dict:
        return {k: v for k, v in evaluation.items() if k not in ("loss", "nats", "tokens")}

    @classmethod
    def report(cls, result) -> str:
        return (f"val contrastive loss {result.val_loss:.4f} | {scores(result.metrics)} | {result.steps} steps | "
                f"checkpoints in {result.out}" + (f"\n{result.sample}" if result.sample else ""))

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return f"contrastive loss {metrics['loss']:.4f} | {scores(metrics)}"


def recall_at_1(images: torch.Tensor, texts: torch.Tensor, captions: list) -> dict:
    """Recall@1 of N images against their N captions by cosine, both ways; a hit is a retrieved
    item whose caption text is the query's (``captions``: each pair's caption, comparable)."""
    kinds = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    caption = torch.tensor([kinds[c] for c in captions], device=images.device)
    scores = images @ texts.T
    image_to_text = float((caption[scores.argmax(1)] == caption).float().mean())
    text_to_image = float((caption[scores.argmax(0)] == caption).float().mean())
    return {"image_to_text_recall@1": image_to_text, "text_to_image_recall@1": text_to_image,
            "candidates": len(captions), "distinct_captions": len(kinds)}


def scores(m: dict) -> str:
    line = (f"recall@1 among {m['candidates']} held-out pairs ({m['distinct_captions']} distinct captions): "
            f"image->text {m['image_to_text_recall@1']:.3f}, text->image {m['text_to_image_recall@1']:.3f}")
    if "zero_shot_accuracy" in m:
        line += f" | zero-shot accuracy {m['zero_shot_accuracy']:.3f} over {m['classes']} classes"
    return line
