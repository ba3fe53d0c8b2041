"""The classic lineage's tasks: word-level neural LMs trained by the shared trainer on the n-gram
LM's split and word tokens (NNLM, ELMo's biLM), and the one-pass fits (n-gram counting, word2vec's
kernels), which write the same run directory through the same driver."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch.nn import functional as F

from ..core.errors import UserError
from .causal_lm import CausalLMTask
from .protocol import Task, TrainResult

# A word-level LM's tokens come from its own word tokenizer; it is not resumed (its vocabulary is
# rebuilt from the corpus) nor sharded.
WORD_OPTIONS = frozenset({"steps", "batch_size", "context", "lr", "min_lr", "warmup", "eval_interval",
                          "eval_batches", "device", "dtype", "compile", "keep_last", "deterministic"})


class WordLMTask(CausalLMTask):
    """The NNLM's causal LM over the word stream; the family's --order and --direct override its preset."""

    reads = "words"
    options = WORD_OPTIONS

    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        own = {f.name for f in dataclasses.fields(config)}
        changes = {k: v for k, v in options.items() if k in own and v is not None}
        if changes.get("order", 2) < 2:
            raise UserError(f"--order {changes['order']} conditions on no word", "use --order 2 or more")
        return changes


class BiLMTask(Task):
    """ELMo's biLM objective (Peters et al. 2018, eq. 3): forward NLL + backward NLL on a window of
    the word stream."""

    reads = "words"
    options = WORD_OPTIONS
    generates = True

    def __init__(self, model):
        super().__init__()
        self.model = model

    @classmethod
    def for_tokenizer(cls, model, tokenizer):
        model.use_vocabulary(tokenizer.words)  # the token encoder reads each word's characters
        return cls(model)

    def losses(self, inputs, targets, reduction="mean"):
        block = torch.cat([inputs, targets[:, -1:]], dim=1)
        forward = self.model(block[:, :-1]).logits
        backward = self.model.backward_logits(block[:, 1:])
        loss = lambda logits, y: F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1),
                                                 reduction=reduction)
        return loss(forward, block[:, 1:]), loss(backward, block[:, :-1])

    def forward(self, batch):
        forward, backward = self.losses(*batch)
        return forward + backward

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """Nats per token averaged over both directions (what training minimises, halved)."""
        nats, count = 0.0, 0
        for inputs, targets in batches:
            f, b = self.losses(inputs, targets, reduction="sum")
            nats += float(f + b) / 2
            count += targets.numel()
        return {"nats": nats, "tokens": count, "loss": nats / max(count, 1)}


class NGramCountsTask(Task):
    """Shannon's n-gram LM, smoothed (Kneser-Ney, Katz, ...): fitted by counting, on CPU."""

    reads = "corpus"
    options = frozenset()
    generates = True

    @classmethod
    def fit(cls, corpus, *, out: Path, preset: dict, options: dict, seed: int, progress: bool, device: str) -> dict:
        from ..classic.ngram import fit_run

        if options.get("order", 1) < 1:
            raise UserError(f"--order {options['order']}: an n-gram has n >= 1", "use --order 1 (unigrams) or more")
        return fit_run(corpus, out, {**preset, **options})


class Word2VecTask(Task):
    """word2vec's CBOW / skip-gram kernels (numba on CPU, torch on a GPU): word vectors, no likelihood."""

    reads = "corpus"
    options = frozenset({"device"})

    @classmethod
    def fit(cls, corpus, *, out: Path, preset: dict, options: dict, seed: int, progress: bool, device: str) -> dict:
        from ..classic.word2vec import fit_run

        return fit_run(corpus, out, preset, options, seed=seed, progress=progress, device=device)

    @classmethod
    def report(cls, result: TrainResult) -> str:
        return f"{result.summary} | checkpoint in {result.out}"
