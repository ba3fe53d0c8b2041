"""An encoder-decoder model + teacher-forced, label-smoothed training (Vaswani et al. 2017), as
the trainer sees it: ``task((source, target)) -> loss``.

Batches are ``(source, target)`` pairs padded with ``PAD`` (``data.pairs``); every target ends
with the tokenizer's end-of-sequence token, which also starts the decoder (as in fairseq and
BART) and fills padding (masked out, never predicted). ``translate`` decodes with
the one generation engine, greedy or beam search.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.errors import UserError
from ..objectives.seq2seq import Seq2SeqLM
from .protocol import GENERIC_OPTIONS, Task


class Seq2SeqTask(Task):
    generates = True
    reads = "pairs"  # whole (source, target) pairs, not windows of a token stream
    translates = True
    options = GENERIC_OPTIONS - {"context"}  # a pair is as long as it is
    schedule = "inverse_sqrt"  # section 5.3

    def __init__(self, model: nn.Module, pad_id: int, eps: float = 0.1):
        super().__init__()
        self.model = model
        self.objective = Seq2SeqLM(model.config.decoder.start_id, pad_id, eps)

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 1) -> int:
        """The tokenizer's end-of-sequence id, which ends targets and starts the decoder."""
        if tokenizer.eos_id is None:
            raise UserError(f"the {tokenizer.kind} tokenizer has no end-of-sequence token, which sequence-to-sequence "
                            "training needs to end targets", "use --tokenizer bpe")
        return tokenizer.eos_id

    @classmethod
    def for_tokenizer(cls, model, tokenizer):
        return cls(model, pad_id=cls.check_inputs(tokenizer))

    def _logits(self, batch):
        prepared = self.objective.prepare(batch)
        out = self.model(prepared["decoder_input_ids"], input_ids=prepared["input_ids"],
                         encoder_mask=prepared["attention_mask"])
        return out.logits, prepared["labels"]

    def forward(self, batch):
        logits, labels = self._logits(batch)
        return self.objective.loss(logits, labels)

    def zero_shot_scores(self, tokenizer, data) -> dict:
        """What the task scores beyond the held-out pairs of ``data`` (the data it trained on): none
        for translation."""
        return {}

    @classmethod
    def zero_shot_report(cls, metrics: dict) -> str:
        """``zero_shot_scores`` as `train` and `eval` print them, on a line of their own ("" for none)."""
        return ""

    @torch.no_grad()
    def target_logprobs(self, batch) -> torch.Tensor:
        """log p(target | source) of each pair of a batch, summed over the target's tokens (its end
        token included), teacher forced: how likely the model finds each given answer (B,)."""
        logits, labels = self._logits(batch)
        keep = labels != self.objective.ignore_index
        picked = logits.float().log_softmax(-1).gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
        return (picked * keep).sum(1)

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """``loss``: unsmoothed negative log-likelihood per target token (what perplexity
        measures; the smoothed training loss is higher by design); ``accuracy``: the share of
        target tokens predicted right under teacher forcing."""
        nats, smoothed, correct, count = 0.0, 0.0, 0, 0
        for batch in batches:
            logits, labels = self._logits(batch)
            keep = labels != self.objective.ignore_index
            nats += float(self.objective.nll(logits, labels, reduction="sum"))
            smoothed += float(self.objective.loss(logits, labels, reduction="sum"))
            correct += int((logits.argmax(-1)[keep] == labels[keep]).sum())
            count += int(keep.sum())
        if count == 0:
            raise UserError("the validation split has no target tokens to evaluate", "use a larger data set")
        return {"loss": nats / count, "nats": nats, "tokens": count, "smoothed_loss": smoothed / count,
                "accuracy": correct / count}

    @classmethod
    def metrics(cls, evaluation: dict) -> dict:
        return {k: v for k, v in evaluation.items() if k not in ("loss", "nats", "tokens")}

    @classmethod
    def report(cls, result) -> str:
        """Held-out translations: BLEU, exact match and teacher-forced token accuracy, one example."""
        m = result.metrics
        return (f"val loss {result.val_loss:.4f} | token accuracy {m['accuracy']:.3f} | BLEU {m['bleu']:.2f} | "
                f"exact match {m['exact_match']:.3f} on {m['pairs']} held-out pairs | {result.steps} steps | "
                f"checkpoints in {result.out}{cls.zero_shot_report(m)}\n--- sample ---\n{result.sample}")

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return (f"loss {metrics['loss']:.4f} | perplexity {metrics['perplexity']:.2f} | token accuracy "
                f"{metrics['accuracy']:.3f} | {metrics['tokens']} target tokens of {metrics['pairs']} held-out pairs"
                f"{cls.zero_shot_report(metrics)}")

    @torch.no_grad()
    def translate(self, sources, batch_size: int = 64, max_new_tokens: int = 128, num_beams: int = 1,
                  progress: bool = False) -> list[list[int]]:
        """Token ids of each source -> the decoded target ids (cut at end-of-sequence)."""
        from ..generation import generate
        from ..objectives.seq2seq import PAD
        from ..train.progress import progress as progress_bar

        eos, device = self.objective.pad_id, next(self.model.parameters()).device
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))  # similar lengths batch together
        out: list[list[int]] = [[] for _ in sources]
        was_training = self.model.training
        self.model.eval()
        starts = range(0, len(order), batch_size)
        for start in progress_bar(len(starts), enabled=progress, desc="translating", unit="batch", iterable=starts):
            rows = order[start : start + batch_size]
            width = max(len(sources[i]) for i in rows)
            ids = torch.full((len(rows), width), PAD, dtype=torch.long)
            for r, i in enumerate(rows):
                ids[r, : len(sources[i])] = torch.as_tensor(sources[i], dtype=torch.long)
            mask = ids != PAD
            ids = ids.masked_fill(~mask, eos).to(device)
            new = generate(self.model, ids, mask.long().to(device), max_new_tokens=max_new_tokens, eos_id=eos,
                           pad_id=eos, num_beams=num_beams)
            for r, i in enumerate(rows):
                row = new[r].tolist()
                out[i] = row[: row.index(eos)] if eos in row else row
        self.model.train(was_training)
        return out


class MaximumLikelihoodSeq2SeqTask(Seq2SeqTask):
    """The RNN encoder-decoders' training (Cho et al. 2014 sec. 2.2; Bahdanau et al. 2015 sec.
    3): maximise the log-likelihood of the reference targets, teacher forced, with no label
    smoothing (which arrived with the Transformer). A warmup + cosine schedule stands in for
    their Adadelta."""

    schedule = "cosine"

    def __init__(self, model: nn.Module, pad_id: int, eps: float = 0.0):
        super().__init__(model, pad_id, eps)
