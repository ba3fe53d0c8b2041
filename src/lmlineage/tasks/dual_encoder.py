"""A dual encoder trained to rank translations (LaBSE, Feng et al. 2020), as the trainer sees it:
``task((source, target)) -> loss``.

One tower, shared by both languages (section 3.1: "the two encoders share parameters"), reads
``[CLS] sentence [SEP]`` for each side; a sentence's vector is its [CLS] summary (through the
pooler where the model has one), L2-normalised, what `lmlineage embed` gives for the checkpoint.
The loss is the bidirectional translation ranking loss with in-batch negatives and an additive
margin (``objectives.contrastive``).

Evaluation embeds every held-out pair and searches all of them: the share of sources whose
nearest target (cosine) is their own translation (top-1, ``source_to_target``), and the reverse.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..core.errors import UserError
from ..data.pairs import PAD
from ..objectives.contrastive import InBatchContrastive
from .masked_lm import SPECIAL_NAMES
from .protocol import GENERIC_OPTIONS, Task


class TranslationRankingTask(Task):
    reads = "pairs"
    options = GENERIC_OPTIONS - {"context"}  # a sentence is as long as it is
    pair_tokenizer = "wordpiece"  # BERT's vocabulary kind (LaBSE: a 501k WordPiece over 109 languages)
    special_tokens = ("<s>", "</s>", "<pad>")  # should a BPE be asked for instead

    def __init__(self, model: nn.Module, cls_id: int, sep_id: int, pad_id: int):
        super().__init__()
        self.model = model
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        self.objective = self.ranking_objective()

    @staticmethod
    def ranking_objective() -> InBatchContrastive:
        return InBatchContrastive(margin=0.3, scale=10.0)  # LaBSE: m = 0.3 (section 4.2)

    @classmethod
    def pair_length(cls, source: int, target: int) -> int:
        return max(source, target) + 2  # [CLS] sentence [SEP]

    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        """``--pooling mean``: rank the mean of the token states instead of [CLS] (a warm start)."""
        return {"pooling": options["pooling"]} if options.get("pooling") else {}

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 2) -> None:
        """Refuses a tokenizer without sentence bounds and padding, or a batch with no negatives."""
        cls.special_ids(tokenizer)
        if batch_size < 2:
            raise UserError("the ranking loss takes its negatives from the other pairs of the batch",
                            "use --batch-size 2 or more")
        return None

    @classmethod
    def special_ids(cls, tokenizer) -> tuple[int, int, int]:
        found = {role: next((tokenizer.special_ids[n] for n in SPECIAL_NAMES[role] if n in tokenizer.special_ids),
                            None) for role in ("cls", "sep")}
        if None in found.values() or tokenizer.pad_id is None:
            raise UserError(f"the {tokenizer.kind} tokenizer lacks [CLS], [SEP] or [PAD], which the dual encoder "
                            "reads", "leave out --tokenizer (a WordPiece is trained) or use --tokenizer wordpiece")
        return found["cls"], found["sep"], tokenizer.pad_id

    @classmethod
    def for_tokenizer(cls, model, tokenizer):
        return cls(model, *cls.special_ids(tokenizer))

    def bounded(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) ids right-padded with ``PAD`` -> ``[CLS] ids [SEP]`` padded with [PAD], and its mask."""
        lengths = (ids != PAD).sum(1)
        rows = torch.arange(len(ids), device=ids.device)
        out = torch.full((len(ids), ids.shape[1] + 2), self.pad_id, dtype=torch.long, device=ids.device)
        out[:, 0] = self.cls_id
        out[:, 1:-1] = ids.masked_fill(ids == PAD, self.pad_id)
        out[rows, lengths + 1] = self.sep_id
        mask = (torch.arange(out.shape[1], device=ids.device)[None, :] < (lengths + 2)[:, None]).long()
        return out, mask

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Padded sentences -> their normalised vectors (B, d)."""
        inputs, mask = self.bounded(ids)
        out = self.model(inputs, attention_mask=mask)
        return F.normalize(self.model.summary(out.last_hidden_state, out.pooled, mask).float(), dim=-1)

    def forward(self, batch):
        source, target = batch
        return self.objective.loss(self.embed(source), self.embed(target))

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        sources, targets, losses, weights = [], [], 0.0, 0
        for source, target in batches:
            x, y = self.embed(source), self.embed(target)
            sources.append(x)
            targets.append(y)
            if len(x) > 1:  # a lone pair has no negatives
                losses += float(self.objective.loss(x, y)) * len(x)
                weights += len(x)
        if not sources:
            raise UserError("the validation split has no pairs to evaluate", "use a larger data set")
        return {"loss": losses / max(weights, 1), "nats": losses, "tokens": weights,
                **retrieval(torch.cat(sources), torch.cat(targets))}

    @classmethod
    def metrics(cls, evaluation: dict) -> dict:
        return {k: v for k, v in evaluation.items() if k not in ("loss", "nats", "tokens")}

    @classmethod
    def report(cls, result) -> str:
        return (f"val ranking loss {result.val_loss:.4f} | {retrieval_report(result.metrics)} | {result.steps} steps | "
                f"checkpoints in {result.out}")

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return f"ranking loss {metrics['loss']:.4f} | {retrieval_report(metrics)}"


def retrieval(sources: torch.Tensor, targets: torch.Tensor) -> dict:
    """Top-1 accuracy of searching all N targets for each source's translation by cosine, and the
    reverse; ``accuracy``: their mean; ``chance``: 1 / N."""
    scores = sources @ targets.T
    truth = torch.arange(len(scores), device=scores.device)
    forward = float((scores.argmax(1) == truth).float().mean())
    backward = float((scores.argmax(0) == truth).float().mean())
    return {"source_to_target": forward, "target_to_source": backward, "accuracy": (forward + backward) / 2,
            "candidates": len(scores), "chance": 1 / len(scores)}


def retrieval_report(m: dict) -> str:
    return (f"top-1 retrieval among {m['candidates']} held-out pairs: source->target {m['source_to_target']:.3f}, "
            f"target->source {m['target_to_source']:.3f} (chance {m['chance']:.4f})")
