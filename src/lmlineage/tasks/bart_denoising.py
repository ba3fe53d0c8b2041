"""BART pre-training (Lewis et al. 2019): reconstruct each document from its corruption.

The sampler's windows of token ids are the documents. Each is corrupted as the large model's
(section 5.1): sentences permuted, then 30% of tokens hidden in Poisson(3) spans, each span one
<mask>; the decoder, starting from </s>, predicts the original window followed by </s>, with
label smoothing 0.1 (the released fine-tuning recipes; the paper does not state it for
pre-training). Noise is drawn afresh every time from the global torch RNG (which checkpoints
capture); evaluation draws from a fixed seed, so every evaluation scores the same corruptions.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.errors import UserError
from ..objectives.bart_noise import BartDenoising, Compose, SentencePermutation, TextInfilling
from ..objectives.seq2seq import PAD, Seq2SeqLM
from .baselines import unigram_entropy
from .held_out import add_up_totals
from .protocol import Task

SENTENCE_ENDS = (".", "!", "?")


class DenoisingTask(Task):
    generates = False  # reports reconstruction, not bits per character
    added_tokens = 1  # </s> after every document

    def __init__(self, model: nn.Module, mask_id: int, eos_id: int, sentence_end_ids, rate: float = 0.3):
        super().__init__()
        self.model = model
        self.eos_id = eos_id
        self.denoising = BartDenoising(Compose(SentencePermutation(sentence_end_ids), TextInfilling(mask_id, rate)))
        self.objective = Seq2SeqLM(model.config.decoder.start_id, pad_id=eos_id, eps=0.1)

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 1) -> dict:
        mask_id = next((tokenizer.special_ids[n] for n in ("<mask>", "[MASK]") if n in tokenizer.special_ids), None)
        if mask_id is None or tokenizer.eos_id is None:
            raise UserError(f"the {tokenizer.kind} tokenizer lacks a <mask> or </s> token, which BART's denoising "
                            "needs", "use --tokenizer unigram (the default for bart)")
        return {"mask": mask_id, "eos": tokenizer.eos_id}

    @classmethod
    def for_tokenizer(cls, model, tokenizer):
        ids = cls.check_inputs(tokenizer)
        if model.config.decoder.start_id != ids["eos"]:
            raise UserError(f"the decoder starts with id {model.config.decoder.start_id}, but </s> is {ids['eos']}",
                            "use --tokenizer unigram, whose </s> is id 2 as in BART")
        ends = [i for i in range(tokenizer.vocab_size)
                if (tokenizer.id_to_token(i) or "").endswith(SENTENCE_ENDS) and i not in tokenizer.special_ids.values()]
        return cls(model, ids["mask"], ids["eos"], ends)

    def forward(self, batch, generator: torch.Generator | None = None, totals: bool = False):
        windows, _ = batch  # the documents; the causal shift is not used
        documents = [torch.cat([w.cpu(), w.new_tensor([self.eos_id]).cpu()]) for w in windows]
        source, target = self.denoising.prepare(documents, generator)
        prepared = self.objective.prepare((source.to(windows.device), target.to(windows.device)))
        logits = self.model(prepared["decoder_input_ids"], input_ids=prepared["input_ids"],
                            encoder_mask=prepared["attention_mask"]).logits
        labels = prepared["labels"]
        if not totals:
            return self.objective.loss(logits, labels)
        keep = labels != PAD
        return {"nats": self.objective.nll(logits, labels, reduction="sum"),
                "correct": (logits.argmax(-1)[keep] == labels[keep]).sum(),
                "counts": torch.bincount(labels[keep], minlength=logits.shape[-1])}

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """``loss``: unsmoothed nats per target token; ``reconstruction_accuracy``: target tokens
        predicted right under teacher forcing, on the same corruptions every call; ``unigram_loss``:
        the entropy of those target tokens, the best a model that reads neither source nor prefix does."""
        totals = add_up_totals(forward or self, batches, generator_on_batch_device=False)
        nats, count = float(totals["nats"]), int(totals["counts"].sum())
        return {"loss": nats / count, "nats": nats, "tokens": count,
                "reconstruction_accuracy": int(totals["correct"]) / count,
                "unigram_loss": unigram_entropy(totals["counts"])}

    @classmethod
    def report(cls, result) -> str:
        m = result.metrics
        return (f"val loss {result.val_loss:.4f} (unigram {m['unigram_loss']:.4f}) | reconstruction accuracy "
                f"{m['reconstruction_accuracy']:.3f} | {result.steps} steps | checkpoints in {result.out}")

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return (f"loss {metrics['loss']:.4f} (unigram {metrics['unigram_loss']:.4f}) | perplexity "
                f"{metrics['perplexity']:.2f} | reconstruction accuracy {metrics['reconstruction_accuracy']:.3f} | "
                f"{metrics['tokens']} target tokens")
