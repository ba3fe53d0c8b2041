"""Tasks: a model (or several) + heads + an objective, as the trainer sees them:
``task(batch) -> loss`` and ``task.evaluate(batches) -> {"loss", "nats", "tokens"}``.

``make_task`` maps a family's declared objective to its task; a new objective registers here.
"""

from __future__ import annotations

from ..core.errors import UserError
from .blank_infilling import BlankInfillingTask
from .causal_lm import CausalLMTask, ControlCodedLMTask
from .distillation import DistillationTask
from .electra import ReplacedTokenDetectionTask
from .masked_lm import MaskedLMTask, MaskedLMWithNSPTask, MaskedLMWithSOPTask
from .span_corruption import SpanCorruptionTask
from .bart_denoising import DenoisingTask
from .seq2seq import MaximumLikelihoodSeq2SeqTask, Seq2SeqTask

TASKS = {"clm": CausalLMTask, "clm+control": ControlCodedLMTask, "blank_infilling": BlankInfillingTask, "mlm": MaskedLMTask, "mlm+nsp": MaskedLMWithNSPTask, "mlm+sop": MaskedLMWithSOPTask,
         "mlm+rtd": ReplacedTokenDetectionTask, "distill": DistillationTask, "span_corruption": SpanCorruptionTask,
         "seq2seq": Seq2SeqTask, "seq2seq_mle": MaximumLikelihoodSeq2SeqTask,
         "bart_denoising": DenoisingTask}


def make_task(objective: str, model, tokenizer=None, **options):
    """``options``: what a composed task needs besides the model (distillation: ``teacher``)."""
    if objective not in TASKS:
        raise UserError(f"training with the {objective!r} objective is not available yet",
                        f"trainable objectives: {', '.join(TASKS)}")
    if tokenizer is None:
        return TASKS[objective](model, **options)
    return TASKS[objective].for_tokenizer(model, tokenizer, **options)
