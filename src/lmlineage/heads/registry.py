"""The heads a model may carry, by name (``HEADS``): how each is built from the config, what it
reads and which output it fills. A family or task picks heads by name (``cfg.heads``); a new head
(reward, value, detection, noise prediction) is one more entry here, with no change to the stacks
or the model classes in ``blocks/``.

What a head reads:
- ``hidden``: the stack's last hidden states, (B, T, d);
- ``masked``: the hidden states at the positions the caller asks for (MLM training), (N, d);
- ``pooled``: the ``pooler`` head's output, (B, d);
- ``summary``: the sentence summary, (B, d): by ``cfg.pooling`` the pooled [CLS] (or [CLS]
  itself without a pooler), or the normalised mean of the real tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..core.config import ModelConfig
from .lm import LMHead
from .mlm import MLMHead
from .nsp import SegmentPairHead
from .pooler import Pooler
from .rtd import ReplacedTokenHead
from .scalar import ScalarHead
from .tasks import ChoiceScorer, SequenceClassifier, SpanHead, TokenClassifier

READS = ("hidden", "masked", "pooled", "summary")


@dataclass(frozen=True)
class HeadSpec:
    """``writes``: the output the head fills (the first head to write it wins); ``labelled``: sized
    by the label names in ``cfg.labels``; ``fine_tuning``: at most one such head per model;
    ``tied``: an encoder ties its vocabulary projection to the word embeddings (``cfg.embedding.tie``)."""

    build: Callable[[ModelConfig], nn.Module]
    reads: str
    writes: str
    labelled: bool = False
    fine_tuning: bool = False
    tied: bool = False


def _labels(cfg: ModelConfig) -> int:
    return len(cfg.labels)


# Built in this order (a head's initial weights depend on what was drawn before it).
HEADS: dict[str, HeadSpec] = {
    "lm_head": HeadSpec(lambda cfg: LMHead(cfg.d_model, cfg.vocab_size, bias=cfg.embedding.head_bias), "hidden",
                        "logits"),
    "pooler": HeadSpec(lambda cfg: Pooler(cfg.d_model), "hidden", "pooled"),
    "mlm": HeadSpec(lambda cfg: MLMHead(cfg.d_model, cfg.vocab_size, cfg.mlp.activation, cfg.norm.eps,
                                        embed_dim=cfg.embedding.dim), "masked", "logits", tied=True),
    # XLM's prediction layer (Lample & Conneau 2019): the masked positions straight onto the
    # vocabulary, with a bias and no transform.
    "masked_lm_head": HeadSpec(lambda cfg: LMHead(cfg.d_model, cfg.vocab_size, bias=True), "masked", "logits",
                               tied=True),
    "nsp": HeadSpec(lambda cfg: SegmentPairHead(cfg.d_model), "pooled", "pair_logits"),  # next sentence
    "sop": HeadSpec(lambda cfg: SegmentPairHead(cfg.d_model), "pooled", "pair_logits"),  # sentence order
    "rtd": HeadSpec(lambda cfg: ReplacedTokenHead(cfg.d_model, cfg.mlp.activation), "hidden", "rtd_logits"),
    "classifier": HeadSpec(lambda cfg: SequenceClassifier(cfg.d_model, _labels(cfg), cfg.dropout), "summary",
                           "task_logits", labelled=True, fine_tuning=True),
    "choice": HeadSpec(lambda cfg: ChoiceScorer(cfg.d_model, cfg.dropout), "summary", "task_logits", fine_tuning=True),
    "tagger": HeadSpec(lambda cfg: TokenClassifier(cfg.d_model, _labels(cfg), cfg.dropout), "hidden", "task_logits",
                       labelled=True, fine_tuning=True),
    "span": HeadSpec(lambda cfg: SpanHead(cfg.d_model), "hidden", "task_logits", fine_tuning=True),
    "value": HeadSpec(lambda cfg: ScalarHead(cfg.d_model), "hidden", "values"),  # a critic: one scalar per position
}
