"""An encoder-decoder + T5's span corruption, as the trainer sees it.

The sampler's windows of token ids are corrupted (``objectives.span_corruption``): the encoder
reads the text with its dropped spans replaced by sentinels, the decoder predicts the sentinels
and spans. The sentinels are 100 ids added on top of the tokenizer's vocabulary (T5's 100
``extra_ids``), so the model's vocabulary is the tokenizer's + 100; the decoder starts from the
tokenizer's pad token (T5) or, lacking one, its end-of-sequence token (BART's choice).

Spans are drawn from the global torch RNG in training (checkpoints capture it: a resumed run
draws the same spans) and from a fixed seed in evaluation, so every evaluation scores the same
spans. ``evaluate`` also reports the loss on the span tokens alone (sentinels and eos are easy
to predict) and the unigram baselines: the entropy of the predicted tokens' own frequencies.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.errors import UserError
from ..objectives.span_corruption import SpanCorruption
from .baselines import unigram_entropy
from .held_out import add_up_totals
from .protocol import Task

N_SENTINELS = 100  # T5's extra_ids


class SpanCorruptionTask(Task):
    generates = False  # trained to fill sentinels: `evaluate` reports the span loss, not bits per char

    def __init__(self, model: nn.Module, eos_id: int, pad_id: int):
        super().__init__()
        if not model.is_encoder_decoder:
            raise UserError("span corruption trains an encoder-decoder model", "train t5, mt5 or switch")
        self.model = model
        self.objective = SpanCorruption(model.config.vocab_size, eos_id, pad_id, model.decoder_start_id,
                                        n_sentinels=N_SENTINELS)

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 1) -> dict[str, int]:
        if tokenizer.eos_id is None:
            raise UserError(f"the {tokenizer.kind} tokenizer has no end-of-sequence token, which span corruption "
                            "appends to inputs and targets", "use --tokenizer unigram (the default for t5) or bpe")
        start = tokenizer.pad_id if tokenizer.pad_id is not None else tokenizer.eos_id
        return {"eos": tokenizer.eos_id, "pad": start}

    @classmethod
    def model_config(cls, tokenizer) -> dict:
        """The model's vocabulary holds the sentinels above the tokenizer's."""
        return {"vocab_size": tokenizer.vocab_size + N_SENTINELS,
                "decoder": {"start_id": cls.check_inputs(tokenizer)["pad"]}}

    @classmethod
    def for_tokenizer(cls, model, tokenizer):
        ids = cls.check_inputs(tokenizer)
        if model.config.vocab_size != tokenizer.vocab_size + N_SENTINELS:
            raise UserError(f"the model's vocabulary ({model.config.vocab_size}) is not the tokenizer's "
                            f"({tokenizer.vocab_size}) + {N_SENTINELS} sentinels", "build it with model_config()")
        return cls(model, ids["eos"], ids["pad"])

    def encode(self, windows: torch.Tensor, generator=None) -> dict:
        # The source gains at most one token (eos: every span leaves a sentinel): fit the context.
        return self.objective.prepare(windows[:, : self.model.max_positions - 1], generator)

    def forward(self, batch, generator: torch.Generator | None = None, totals: bool = False):
        windows, _ = batch  # the causal shift is unused: the dropped spans are the targets
        encoded = self.encode(windows, generator)
        out = self.model(encoded["decoder_input_ids"], input_ids=encoded["input_ids"],
                         encoder_mask=encoded["attention_mask"])
        labels = encoded["labels"]
        if not totals:
            loss = self.objective.loss(out.logits, labels)
            aux = getattr(out, "aux_loss", None)  # mixture-of-experts router losses (Switch), already weighted
            return loss + aux if aux is not None and self.training else loss  # evaluation: the objective alone
        real = labels != self.objective.ignore_index
        span = real & (labels < self.model.config.vocab_size - N_SENTINELS) & (labels != self.objective.eos_id)
        nats = nn.functional.cross_entropy(out.logits.float().transpose(1, 2), labels.clamp(min=0), reduction="none")
        return {"nats": (nats * real).sum(), "span_nats": (nats * span).sum(),
                "correct": ((out.logits.argmax(-1) == labels) & real).sum(),
                "counts": torch.bincount(labels[real], minlength=self.model.config.vocab_size),
                "span_counts": torch.bincount(labels[span], minlength=self.model.config.vocab_size)}

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """``loss``: nats per target token (sentinels, spans, eos); ``span_loss``: per span token;
        ``accuracy``: target tokens predicted right under teacher forcing; ``unigram_loss`` /
        ``unigram_span_loss``: the loss of the best unigram model of those very tokens (their
        empirical entropy), the trivial baseline to beat."""
        # spans are drawn on the CPU
        totals = add_up_totals(forward or self, batches, generator_on_batch_device=False)
        tokens, span_tokens = int(totals["counts"].sum()), max(int(totals["span_counts"].sum()), 1)
        return {"loss": float(totals["nats"]) / tokens, "nats": float(totals["nats"]), "tokens": tokens,
                "span_loss": float(totals["span_nats"]) / span_tokens, "accuracy": int(totals["correct"]) / tokens,
                "unigram_loss": unigram_entropy(totals["counts"]),
                "unigram_span_loss": unigram_entropy(totals["span_counts"])}

    @classmethod
    def report(cls, result) -> str:
        m = result.metrics
        return (f"val loss {result.val_loss:.4f} (unigram {m['unigram_loss']:.4f}) | span tokens "
                f"{m['span_loss']:.4f} (unigram {m['unigram_span_loss']:.4f}) nats | {result.steps} steps | "
                f"checkpoints in {result.out}")

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return (f"loss {metrics['loss']:.4f} (unigram {metrics['unigram_loss']:.4f}) | perplexity "
                f"{metrics['perplexity']:.2f} | token accuracy {metrics['accuracy']:.3f} | span tokens "
                f"{metrics['span_loss']:.4f} (unigram {metrics['unigram_span_loss']:.4f}) nats | "
                f"{metrics['tokens']} target tokens")
