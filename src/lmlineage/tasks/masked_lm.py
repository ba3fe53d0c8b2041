"""An encoder + the masked LM (and for BERT next sentence prediction), as the trainer sees it.

The sampler's windows of token ids become encoder inputs. ``mlm`` (RoBERTa, Liu et al. 2019,
section 4.2 FULL-SENTENCES): ``[CLS] window [SEP]`` (``<s> ... </s>`` with such a tokenizer),
full-length and crossing document boundaries. ``mlm+nsp`` (BERT, Devlin et al. 2019, section 3.1
Task #2): each window is cut at a random point into A and B, ``[CLS] A [SEP] B [SEP]`` with
segment ids 0 / 1, and half the time B is replaced by the same stretch of another window of the
batch (random text, labelled NotNext). ``mlm+sop`` (ALBERT, Lan et al. 2020, section 3.1): the
same cut, the two segments swapped half the time (objectives/sop.py). Windows are trimmed so the
specials fit ``max_positions``.

Masks are drawn afresh every time a window is seen (RoBERTa's dynamic masking, section 4.1;
BERT masked once in preprocessing, but random windows rarely repeat, so the two coincide here)
from the global torch RNG, which checkpoints capture: a resumed run draws the same masks.
Evaluation draws from a fixed seed, so every evaluation scores the same positions.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.errors import UserError
from ..objectives.mlm import MaskedLM
from ..objectives.nsp import IS_NEXT, NOT_NEXT, NextSentencePrediction
from ..objectives.sop import SentenceOrderPrediction
from .baselines import most_frequent_share
from .held_out import add_up_totals
from .protocol import Task

# The role of each special token, by the names BERT's and SentencePiece-style vocabularies use.
SPECIAL_NAMES = {"cls": ("[CLS]", "<s>"), "sep": ("[SEP]", "</s>"), "mask": ("[MASK]", "<mask>")}


class MaskedLMTask(Task):
    next_sentence = False  # MaskedLMWithNSPTask: also next sentence prediction
    pairs: str | None = None  # the segment-pair objective besides the masked LM: "nsp" or "sop"
    pair_label_key = "next_sentence_label"
    generates = False  # an encoder does not sample text
    masking: dict = {}  # MaskedLM's shares where a family departs from BERT's 80/10/10
    special_tokens = ("<s>", "</s>", "<pad>", "<mask>")  # what a BPE trained for it gets (XLM's)

    def __init__(self, model: nn.Module, cls_id: int, sep_id: int, mask_id: int, special_ids=()):
        super().__init__()
        self.model = model
        self.cls_id, self.sep_id = cls_id, sep_id
        self.objective = MaskedLM(mask_id, model.config.vocab_size, special_ids={cls_id, sep_id, *special_ids},
                                  **self.masking)

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 2) -> dict[str, int]:
        """The tokenizer's [CLS] / [SEP] / [MASK] ids; UserError when it lacks one, or when NSP's
        batch is too small (``train`` asks before any work)."""
        ids = {role: next((tokenizer.special_ids[n] for n in names if n in tokenizer.special_ids), None)
               for role, names in SPECIAL_NAMES.items()}
        missing = [names[0] for role, names in SPECIAL_NAMES.items() if ids[role] is None]
        if missing:
            raise UserError(f"the {tokenizer.kind} tokenizer has no {', '.join(missing)} token, which masked-LM "
                            "training needs", "use --tokenizer wordpiece (the default for encoders)")
        if cls.next_sentence and batch_size < 2:
            raise UserError("next sentence prediction draws NotNext segments from another window of the batch",
                            "use --batch-size 2 or more")
        return ids

    @classmethod
    def for_tokenizer(cls, model, tokenizer):
        ids = cls.check_inputs(tokenizer)
        return cls(model, ids["cls"], ids["sep"], ids["mask"], special_ids=tokenizer.special_ids.values())

    # ---- data ------------------------------------------------------------------------------
    def encode(self, windows: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Windows (B, L) -> the encoder batch: specials, segments, masked ``input_ids``, ``labels``."""
        room = self.model.max_positions - (3 if self.pairs else 2)
        windows = windows[:, :room]
        if self.pairs:
            batch = self._pairs(windows, generator)
        else:
            b = windows.shape[0]
            batch = {"input_ids": torch.cat([windows.new_full((b, 1), self.cls_id), windows,
                                             windows.new_full((b, 1), self.sep_id)], dim=1)}
        return self.objective.prepare(batch, generator)

    def _pairs(self, windows: torch.Tensor, generator) -> dict:
        """``[CLS] A [SEP] B [SEP]``: A = window[:p], B = window[p:] (IsNext) or another
        window's [p:] (NotNext), p uniform in [1, L-1] per row."""
        b, length = windows.shape
        if b < 2 or length < 2:
            raise UserError(f"next sentence prediction needs 2+ windows of 2+ tokens, got {b} of {length}",
                            "use --batch-size 2 or more and a --context of 2 or more")
        device = windows.device
        split = torch.randint(1, length, (b, 1), generator=generator, device=device)
        not_next = torch.rand(b, generator=generator, device=device) < 0.5
        shift = torch.randint(1, b, (b,), generator=generator, device=device)
        rows = torch.arange(b, device=device)
        partner = torch.where(not_next, (rows + shift) % b, rows)

        j = torch.arange(length + 3, device=device)[None, :]  # output column
        in_b = j >= split + 2  # B and its closing [SEP]
        source_row = torch.where(in_b, partner[:, None], rows[:, None])
        source_col = torch.where(in_b, j - 2, j - 1).clamp(0, length - 1)
        ids = windows[source_row, source_col]
        ids = torch.where(j == 0, self.cls_id, ids)
        ids = torch.where((j == split + 1) | (j == length + 2), self.sep_id, ids)
        labels = torch.full((b,), IS_NEXT, device=device).masked_fill(not_next, NOT_NEXT)
        return {"input_ids": ids, "token_type_ids": in_b.long(), "next_sentence_label": labels}

    # ---- what the trainer calls ------------------------------------------------------------
    def forward(self, batch, generator: torch.Generator | None = None, totals: bool = False):
        """The training loss (MLM, + NSP for BERT, summed as in the released code); with
        ``totals``, the sums ``evaluate`` adds up."""
        windows, _ = batch  # the targets are the causal LM's shift; MLM predicts the windows themselves
        encoded = self.encode(windows, generator)
        labels = encoded["labels"]
        predicted = labels != MaskedLM.ignore_index
        out = self.model(encoded["input_ids"], token_type_ids=encoded.get("token_type_ids"),
                         mlm_positions=predicted)
        targets = labels[predicted]
        pair_labels = encoded.get(self.pair_label_key)
        if not totals:
            loss = self.objective.loss(out.logits, targets)
            if pair_labels is not None:
                loss = loss + NextSentencePrediction.loss(out.pair_logits, pair_labels)
            return loss
        sums = self.mlm_sums(out.logits, encoded["input_ids"], labels)
        if pair_labels is not None:
            sums["pair_nats"] = NextSentencePrediction.loss(out.pair_logits, pair_labels) * len(pair_labels)
            sums["pairs_correct"] = (out.pair_logits.argmax(-1) == pair_labels).sum()
            sums["pairs"] = torch.tensor(len(pair_labels))
        return sums

    def mlm_sums(self, logits, input_ids, labels) -> dict:
        """What ``evaluate`` adds up for the masked LM, from the logits at the predicted positions."""
        predicted = labels != MaskedLM.ignore_index
        targets = labels[predicted]
        hits = logits.argmax(-1) == targets
        at_mask = input_ids[predicted] == self.objective.mask_id  # the input hides the answer
        return {
            "nats": self.objective.loss(logits, targets, reduction="sum").float(),
            "correct": hits.sum(),
            "label_counts": torch.bincount(targets, minlength=self.objective.vocab_size),
            "correct_at_mask": (hits & at_mask).sum(),
            "label_counts_at_mask": torch.bincount(targets[at_mask], minlength=self.objective.vocab_size),
        }

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """On the same masks every call: ``loss`` as in training (MLM + NSP), ``mlm_loss`` (nats
        per predicted token: ``nats`` / ``tokens``), MLM ``accuracy`` over the predicted positions
        (BERT's masked_lm_accuracy), and ``unigram_accuracy``, that of always predicting the most
        frequent of those tokens (the best unigram-frequency guess: the trivial baseline to beat).
        The same two ``_at_mask``: at the 80% of positions showing [MASK], where copying the input
        cannot help (it gives away the other 10% kept). For BERT ``nsp_loss`` and ``nsp_accuracy``
        (ALBERT: ``sop_...``)."""
        def unpaired(windows):  # a lone tail window has no partner to draw NotNext text from, or cannot be cut
            return bool(self.pairs) and (windows.shape[0] < 2 and self.next_sentence or windows.shape[1] < 2)

        totals = add_up_totals(forward or self, batches, skip=unpaired)
        count = max(int(totals["label_counts"].sum()), 1)
        nats = float(totals["nats"])
        result = {"loss": nats / count, "nats": nats, "tokens": count, "mlm_loss": nats / count,
                  "accuracy": int(totals["correct"]) / count,
                  "unigram_accuracy": most_frequent_share(totals["label_counts"])}
        at_mask = max(int(totals["label_counts_at_mask"].sum()), 1)
        result["accuracy_at_mask"] = int(totals["correct_at_mask"]) / at_mask
        result["unigram_accuracy_at_mask"] = most_frequent_share(totals["label_counts_at_mask"])
        if "pairs" in totals:
            pairs = int(totals["pairs"])
            result[f"{self.pairs}_loss"] = float(totals["pair_nats"]) / pairs
            result[f"{self.pairs}_accuracy"] = int(totals["pairs_correct"]) / pairs
            result["loss"] += result[f"{self.pairs}_loss"]
        return self.more_metrics(result, totals)

    def more_metrics(self, result: dict, totals: dict) -> dict:
        """A hook for tasks that add up more than the masked LM's sums (ELECTRA's discriminator)."""
        return result

    @classmethod
    def report(cls, result) -> str:
        return (f"val loss {result.val_loss:.4f} | {masked_lm_report(result.metrics)} | {result.steps} steps | "
                f"checkpoints in {result.out}")

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return f"loss {metrics['loss']:.4f} | {masked_lm_report(metrics)} | {metrics['tokens']} masked tokens"


def masked_lm_report(metrics: dict) -> str:
    """MLM accuracy beside the trivial baseline (always the most frequent token), and NSP's / SOP's;
    ELECTRA's replaced-token detection beside calling every token original."""
    pairs = "".join(f" | {name.upper()} accuracy {metrics[name + '_accuracy']:.3f}"
                    for name in ("nsp", "sop") if name + "_accuracy" in metrics)
    rtd = (f" | RTD accuracy {metrics['rtd_accuracy']:.3f} (all original: {metrics['rtd_all_original_accuracy']:.3f})"
           if "rtd_accuracy" in metrics else "")
    return (f"MLM accuracy {metrics['accuracy']:.3f} (most frequent token: {metrics['unigram_accuracy']:.3f})"
            f"{pairs}{rtd}")


class MaskedLMWithNSPTask(MaskedLMTask):
    next_sentence = True
    pairs = "nsp"


class MaskedLMWithSOPTask(MaskedLMTask):
    """ALBERT: the masked LM + sentence order prediction, on the same pooler and 2-way head."""

    pairs = "sop"
    pair_label_key = SentenceOrderPrediction.label_key
    order = SentenceOrderPrediction()

    def _pairs(self, windows: torch.Tensor, generator) -> dict:
        if windows.shape[1] < 2:
            raise UserError(f"sentence order prediction cuts each window in two, got windows of {windows.shape[1]}",
                            "use a --context of 2 or more")
        return self.order.prepare(windows, self.cls_id, self.sep_id, generator)
