"""Tasks: a model (or several) + heads + an objective, each declaring the protocol of
:mod:`lmlineage.tasks.protocol` (what it reads, how it learns, evaluates and reports).

``task_class`` maps a family's declared objective to its task; a new objective registers here.
"""

from __future__ import annotations

from ..core.errors import UserError
from .blank_infilling import BlankInfillingTask
from .causal_lm import CausalLMTask, ControlCodedLMTask, RuleDialogueLMTask, ToolUseLMTask
from .distillation import DistillationTask
from .electra import ReplacedTokenDetectionTask
from .ernie import KnowledgeMaskedLMTask
from .detection import DetectionTask
from .instruction_tuning import InstructionTuningTask
from .image_classification import ImageClassificationTask
from .image_text import ImageTextContrastiveTask
from .image_questions import ImageQuestionTask
from .segmentation import SegmentationTask
from .captioning import BlipTask, CocaTask
from .masked_lm import MaskedLMTask, MaskedLMWithNSPTask, MaskedLMWithSOPTask
from .span_corruption import SpanCorruptionTask
from .bart_denoising import DenoisingTask
from .classic import BiLMTask, NGramCountsTask, Word2VecTask, WordLMTask
from .protocol import Task
from .recurrent_lm import MemoryLMTask
from .permutation_lm import PermutationLMTask
from .seq2seq import MaximumLikelihoodSeq2SeqTask, Seq2SeqTask
from .tlm import TranslationLMTask
from .dual_encoder import TranslationRankingTask
from .text_to_image import CascadeTask, TextToImageTask
from .dall_e import DallETask

TASKS = {"clm": CausalLMTask, "clm+memory": MemoryLMTask, "plm": PermutationLMTask, "clm+control": ControlCodedLMTask, "blank_infilling": BlankInfillingTask, "mlm": MaskedLMTask, "mlm+nsp": MaskedLMWithNSPTask, "mlm+sop": MaskedLMWithSOPTask,
         "mlm+rtd": ReplacedTokenDetectionTask, "mlm+dea": KnowledgeMaskedLMTask, "distill": DistillationTask, "span_corruption": SpanCorruptionTask,
         "seq2seq": Seq2SeqTask, "seq2seq_mle": MaximumLikelihoodSeq2SeqTask,
         "bart_denoising": DenoisingTask, "word_clm": WordLMTask, "bilm": BiLMTask, "counts": NGramCountsTask,
         "word2vec": Word2VecTask, "image_classification": ImageClassificationTask, "tlm": TranslationLMTask,
         "translation_ranking": TranslationRankingTask, "image_text_contrastive": ImageTextContrastiveTask,
         "image_questions": ImageQuestionTask, "detection": DetectionTask, "segmentation": SegmentationTask,
         "instruction_tuning": InstructionTuningTask, "clm+tools": ToolUseLMTask, "clm+rules": RuleDialogueLMTask,
         "blip": BlipTask, "coca": CocaTask, "diffusion": TextToImageTask, "cascade": CascadeTask,
         "dall_e": DallETask}


def task_class(objective: str) -> type[Task]:
    if objective not in TASKS:
        raise UserError(f"training with the {objective!r} objective is not available yet",
                        f"trainable objectives: {', '.join(TASKS)}")
    return TASKS[objective]


def make_task(objective: str, model, tokenizer=None, **options):
    """``options``: what a composed task needs besides the model (distillation: ``teacher``)."""
    if tokenizer is None:
        return task_class(objective)(model, **options)
    return task_class(objective).for_tokenizer(model, tokenizer, **options)
