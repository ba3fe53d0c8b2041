"""Flan-T5 (Chung et al. 2022, "Scaling Instruction-Finetuned Language Models"; the method is
FLAN's, Wei et al. 2022, "Finetuned Language Models Are Zero-Shot Learners").

Diff from T5: nothing in the network. The released checkpoints are T5 v1.1 (gated GELU, an
untied output layer) fine-tuned on a mixture of 1,836 tasks, each phrased by instruction
templates, in zero-shot, few-shot and chain-of-thought formats, with each task's examples capped
in the mixture (section 2). Here the mixture is ``data.instructions``' checkable tasks (`train
flan-t5` reads ``flan`` by default; ``flan:without=CLUSTER`` holds a cluster out,
``flan:plain`` drops the templates), trained as a sequence-to-sequence task without label
smoothing; the shape is T5 v1.1's.
"""

from ..core.config import merge
from ..core.registry import Family, register
from ..models.encoder_decoder import EncoderDecoderLM
from . import t5

FLAN_T5 = register(Family(
    name="flan-t5",
    year=2022,
    parent="t5",
    paper="Chung et al. 2022, Scaling Instruction-Finetuned Language Models",
    changes="instruction tuning on a task mixture: several templates per task, zero-shot, few-shot and "
            "chain-of-thought formats, per-task caps; T5 v1.1's gated-GELU shape",
    defaults=merge(t5.DEFAULTS, dict(mlp=dict(kind="glu", activation="gelu_tanh"),
                                     embedding=dict(tie=False, rescale_head=False), dropout=0.1)),
    presets=t5.T5.presets,
    objective="instruction_tuning",
    default_tokenizer="bpe",
    architecture="encoder-decoder",
    build=EncoderDecoderLM,
))
