"""The bidirectional encoder model: the one stack (blocks/stack.py) built with ``causal=False``,
and the heads an encoder family pre-trains with.

The only mask is padding. Embeddings are tokens + positions + segments (BERT's sentence A/B),
optionally normalised (``cfg.embed_norm``); post-LN blocks come from ``cfg.residual="post"``;
factorized embeddings (``cfg.embed_dim``: ALBERT, ELECTRA) and cross-layer sharing
(``cfg.layer_groups``: ALBERT) are options of the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..core.config import ModelConfig
from ..core.errors import UserError
from ..heads.mlm import MLMHead
from ..heads.nsp import SegmentPairHead
from ..heads.pooler import Pooler
from ..heads.rtd import ReplacedTokenHead
from ..heads.tasks import ChoiceScorer, SequenceClassifier, SpanHead, TokenClassifier
from .init import init_weights
from .stack import Stack

HEADS = ("pooler", "mlm", "nsp", "sop", "rtd", "classifier", "choice", "tagger", "span")
LABELLED_HEADS = ("classifier", "tagger")  # sized by the label names in ``cfg.extra["labels"]``
PAIR_HEADS = ("nsp", "sop")  # segment-pair classifiers on the pooled [CLS]


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None  # embeddings, then each block's output
    pooled: torch.Tensor | None = None  # the pooler's [CLS] summary
    logits: torch.Tensor | None = None  # masked-LM vocabulary logits, every position
    pair_logits: torch.Tensor | None = None  # segment-pair classes (NSP, SOP)
    rtd_logits: torch.Tensor | None = None  # replaced-token detection, (B, T): > 0 means "replaced"
    # the fine-tuning head's: classifier (B, labels), choice (B,), tagger (B, T, labels), span (B, T, 2)
    task_logits: torch.Tensor | None = None


class EncoderModel(nn.Module):
    """An encoder stack with the heads ``cfg.heads`` names; the model encoder families build.

    ``pooler``: dense + tanh on [CLS]; ``mlm``: the masked-LM head, tied to the word embeddings
    when ``cfg.tie_embeddings``; ``nsp`` / ``sop``: the segment-pair classifier on the pooled
    vector (next sentence or sentence order); ``rtd``: ELECTRA's replaced-token detector;
    ``classifier`` / ``choice`` / ``tagger`` / ``span``: a fine-tuning head (heads/tasks.py).
    ``positions``: the stack's position schemes by name; default ``(cfg.position,)``."""

    def __init__(self, cfg: ModelConfig, positions: tuple[str, ...] | None = None):
        super().__init__()
        heads = list(cfg.heads or ())
        unknown = sorted(set(heads) - set(HEADS))
        if unknown:
            raise UserError(f"config heads: unknown head(s) {', '.join(unknown)}", f"choose from {', '.join(HEADS)}")
        for pair in PAIR_HEADS:
            if pair in heads and "pooler" not in heads:
                raise UserError(f"config heads: {pair} classifies the pooled [CLS] vector", "add 'pooler' to heads")
        self.config = cfg
        self.backbone = Stack(cfg, causal=False, positions=positions)
        self.pooler = Pooler(cfg.d_model) if "pooler" in heads else None
        self.mlm = MLMHead(cfg.d_model, cfg.vocab_size, cfg.activation, cfg.norm_eps,
                           embed_dim=cfg.embed_dim) if "mlm" in heads else None
        self.nsp = SegmentPairHead(cfg.d_model) if "nsp" in heads else None
        self.sop = SegmentPairHead(cfg.d_model) if "sop" in heads else None
        self.rtd = ReplacedTokenHead(cfg.d_model, cfg.activation) if "rtd" in heads else None
        self._task_heads(cfg, heads)
        self.apply(partial(init_weights, cfg=cfg))
        if self.mlm is not None and cfg.tie_embeddings:
            self.mlm.tie(self.backbone.embed_tokens)

    def _task_heads(self, cfg, heads) -> None:
        """At most one fine-tuning head (heads/tasks.py); classifier and tagger have one output per
        label name in ``cfg.extra["labels"]``."""
        chosen = [h for h in heads if h in ("classifier", "choice", "tagger", "span")]
        if len(chosen) > 1:
            raise UserError(f"config heads: one fine-tuning head at a time, got {', '.join(chosen)}")
        labels = cfg.extra.get("labels")
        if any(h in LABELLED_HEADS for h in chosen) and not (isinstance(labels, list) and labels):
            raise UserError(f"config heads: the {chosen[0]} needs its label names",
                            'set extra.labels, e.g. ["neg", "pos"]')
        d = cfg.d_model
        self.classifier = SequenceClassifier(d, len(labels), cfg.dropout) if "classifier" in heads else None
        self.choice = ChoiceScorer(d, cfg.dropout) if "choice" in heads else None
        self.tagger = TokenClassifier(d, len(labels), cfg.dropout) if "tagger" in heads else None
        self.span = SpanHead(d) if "span" in heads else None

    def _task_logits(self, hidden, pooled):
        summary = pooled if pooled is not None else hidden[:, 0]  # C: pooled [CLS], or [CLS] itself
        for head, source in ((self.classifier, summary), (self.choice, summary), (self.tagger, hidden),
                             (self.span, hidden)):
            if head is not None:
                return head(source)
        return None

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    tokenizer = None  # set by ``lmlineage.load`` when the checkpoint carries one

    def default_positions(self, input_ids):
        """Position ids when the caller gives none; None: 0, 1, 2, ... (a family's hook)."""
        return None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
                output_hidden_states=False, mlm_positions=None) -> EncoderOutput:
        """``mlm_positions``: a (B, T) boolean mask; the MLM logits are then computed there only,
        as (N, vocab): training predicts ~15% of positions, so the vocabulary projection shrinks."""
        if position_ids is None:
            position_ids = self.default_positions(input_ids)
        hidden, states = self.backbone(input_ids, attention_mask, position_ids, output_hidden_states=output_hidden_states,
                                       token_type_ids=token_type_ids)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        predicted = hidden if mlm_positions is None else hidden[mlm_positions]
        return EncoderOutput(
            last_hidden_state=hidden,
            hidden_states=tuple(states) if states else None,
            pooled=pooled,
            logits=self.mlm(predicted) if self.mlm is not None else None,
            pair_logits=next((head(pooled) for head in (self.nsp, self.sop) if head is not None), None),
            rtd_logits=self.rtd(hidden) if self.rtd is not None else None,
            task_logits=self._task_logits(hidden, pooled),
        )
