"""Instruction tuning (FLAN, Wei et al. 2022; Flan-T5, Chung et al. 2022): an encoder-decoder
trained, teacher forced, on a mixture of tasks each phrased as an instruction
(``data.instructions``); by default the ``flan`` mixture of checkable tasks.

What differs from translation's training (``Seq2SeqTask``): the data, and T5's fine-tuning
recipe rather than the Transformer's: no label smoothing, a plain warmup + cosine schedule
(Chung et al. used Adafactor at a constant rate; AdamW with a schedule is the trainer's)."""

from __future__ import annotations

from torch import nn

from .seq2seq import Seq2SeqTask


class InstructionTuningTask(Seq2SeqTask):
    default_data = "flan"
    schedule = "cosine"

    def __init__(self, model: nn.Module, pad_id: int, eps: float = 0.0):
        super().__init__(model, pad_id, eps)

    @classmethod
    def answer_length(cls, source: int, target: int) -> int:
        """An answer is no longer than the longest target (few-shot sources are long, answers short)."""
        return target + 8
