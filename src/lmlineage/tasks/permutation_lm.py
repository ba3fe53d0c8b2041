"""XLNet's pre-training: the two-stream model + the permutation LM objective, with its memory.

Each window is read segment by segment (``cfg.segment``): every segment draws its own
factorization order and predicts its last 1/K, its content stream reading the gradient-stopped
memory of the segments before (Yang et al. 2019, section 2.5: "we reuse the memory of the
previous segment"). Evaluation scores the predicted positions on the same orders every call
and reads them against the context-free baselines (unigram entropy, the most frequent token).
"""

from __future__ import annotations

import torch

from ..core.cache import XLMemory
from ..models.recurrent import check_mem_len
from ..objectives.plm import PermutationLM
from .baselines import most_frequent_share, unigram_entropy
from .held_out import add_up_totals
from .protocol import Task


class PermutationLMTask(Task):
    generates = False  # the query stream predicts chosen positions; the model does not sample text

    def __init__(self, model, objective: PermutationLM | None = None):
        super().__init__()
        self.model = model
        self.objective = objective or PermutationLM()

    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        mem_len = options.get("mem_len")
        return {} if mem_len is None else {"mem_len": check_mem_len(mem_len)}

    def forward(self, batch, generator: torch.Generator | None = None, totals: bool = False):
        """The mean loss over every predicted token of the window's segments; with ``totals`` the
        sums ``evaluate`` adds up."""
        windows, _ = batch  # the causal shift is not used: the targets are tokens of the window itself
        cfg = self.model.config
        memory = XLMemory(cfg.mem_len)
        nats, correct, counts = 0.0, 0, []
        for start in range(0, windows.shape[1], cfg.segment):
            piece = windows[:, start:start + cfg.segment]
            perm_mask, targets, labels = self.objective.prepare(piece, generator)
            logits = self.model(piece, perm_mask=perm_mask, target_mapping=targets, cache=memory).logits
            nats = nats + self.objective.loss(logits, labels, reduction="sum")
            correct += int((logits.argmax(-1) == labels).sum())
            counts.append(labels.reshape(-1))
        labels = torch.cat(counts)
        if not totals:
            return nats / labels.numel()
        return {"nats": nats.detach().float(), "correct": torch.tensor(correct),
                "label_counts": torch.bincount(labels, minlength=cfg.vocab_size)}

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """``loss``: nats per predicted token; ``accuracy`` there; ``unigram_loss`` and
        ``unigram_accuracy``: the best context-free model of the same tokens."""
        totals = add_up_totals(forward or self, batches)
        counts = totals["label_counts"]
        count = max(int(counts.sum()), 1)
        nats = float(totals["nats"])
        return {"loss": nats / count, "nats": nats, "tokens": count, "accuracy": int(totals["correct"]) / count,
                "unigram_loss": unigram_entropy(counts), "unigram_accuracy": most_frequent_share(counts)}

    @classmethod
    def report(cls, result) -> str:
        return (f"val loss {result.val_loss:.4f} | {_versus_unigram(result.metrics)} | {result.steps} steps | "
                f"checkpoints in {result.out}")

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return f"loss {metrics['loss']:.4f} | {_versus_unigram(metrics)} | {metrics['tokens']} predicted tokens"


def _versus_unigram(metrics: dict) -> str:
    return (f"unigram loss {metrics['unigram_loss']:.4f} | accuracy {metrics['accuracy']:.3f} "
            f"(most frequent token: {metrics['unigram_accuracy']:.3f})")
