"""A decoder with 2-D positions + autoregressive blank infilling (GLM), as the trainer sees it.

The sampler's windows become GLM examples (Part A with [MASK]s, Part B spans in a random order);
the model reads them with the prefix mask and 2-D positions; the loss is over Part B. [MASK],
[S] and [E] are the vocabulary's mask, start and end specials ([MASK], [CLS], [SEP] in a
WordPiece vocabulary). Spans are drawn from the global torch RNG, which checkpoints capture;
evaluation draws from a fixed seed, so every evaluation scores the same spans.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..objectives.blank_infilling import BlankInfilling
from .baselines import most_frequent_share, unigram_entropy
from .held_out import add_up_totals
from .masked_lm import MaskedLMTask
from .protocol import Task


class BlankInfillingTask(Task):
    generates = False  # trained to fill blanks; `evaluate` reports the infilling loss, not bits per char

    def __init__(self, model: nn.Module, mask_id: int, start_id: int, end_id: int, pad_id: int = 0):
        super().__init__()
        self.model = model
        self.objective = BlankInfilling(mask_id, start_id, end_id, pad_id)

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 1) -> dict[str, int]:
        """The tokenizer's mask / start / end ids; a UserError naming the fix when it lacks one."""
        return MaskedLMTask.check_inputs(tokenizer)

    @classmethod
    def for_tokenizer(cls, model, tokenizer):
        ids = cls.check_inputs(tokenizer)
        pad = tokenizer.pad_id if tokenizer.pad_id is not None else 0
        return cls(model, ids["mask"], ids["cls"], ids["sep"], pad)

    def room(self) -> int:
        """The longest window whose example fits the model: m spans add 2m tokens (a [MASK] and
        an [S] each), and m is at most ceil(mask_ratio * L), as every span holds a token."""
        limit, ratio = self.model.max_positions, self.objective.mask_ratio
        length = limit
        while length > 1 and length + 2 * math.ceil(ratio * length) > limit:
            length -= 1
        return length

    def forward(self, batch, generator: torch.Generator | None = None, totals: bool = False):
        windows, _ = batch  # the causal shift is not used: the spans are the targets
        encoded = self.objective.prepare(windows[:, : self.room()], generator)
        out = self.model(encoded["input_ids"], attention_mask=encoded["attention_mask"],
                         position_ids=encoded["position_ids"], prefix_lengths=encoded["prefix_lengths"])
        labels = encoded["labels"]
        if not totals:
            loss = self.objective.loss(out.logits, labels)
            aux = getattr(out, "aux_loss", None)
            return loss + aux if aux is not None and self.training else loss
        predicted = labels != self.objective.ignore_index
        targets = labels[predicted]
        return {
            "nats": self.objective.loss(out.logits, labels, reduction="sum").float(),
            "correct": (out.logits[predicted].argmax(-1) == targets).sum(),
            "label_counts": torch.bincount(targets, minlength=out.logits.shape[-1]),
        }

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """On the same spans every call: ``loss`` (nats per predicted Part B token, [E] included),
        ``accuracy`` of those predictions, and the best any context-free predictor could do on
        the same targets: ``unigram_loss`` (the entropy of their distribution) and ``unigram_accuracy``."""
        totals = add_up_totals(forward or self, batches)
        counts = totals["label_counts"]
        count = max(int(counts.sum()), 1)
        nats = float(totals["nats"])
        return {"loss": nats / count, "nats": nats, "tokens": count, "infilling_loss": nats / count,
                "accuracy": int(totals["correct"]) / count, "unigram_accuracy": most_frequent_share(counts),
                "unigram_loss": unigram_entropy(counts)}

    @classmethod
    def report(cls, result) -> str:
        # GLM predicts whole blanked spans left to right (not masked tokens): its accuracy is named so
        metrics = result.metrics
        return (f"val loss {result.val_loss:.4f} | blank-infilling token accuracy {metrics['accuracy']:.3f} "
                f"(most frequent token: {metrics['unigram_accuracy']:.3f}) | {result.steps} steps | "
                f"checkpoints in {result.out}")

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return (f"loss {metrics['loss']:.4f} (unigram {metrics['unigram_loss']:.4f}) | perplexity "
                f"{metrics['perplexity']:.2f} | blank-infilling token accuracy {metrics['accuracy']:.3f} "
                f"(most frequent token: {metrics['unigram_accuracy']:.3f}) | {metrics['tokens']} predicted tokens")
