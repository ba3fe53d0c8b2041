"""The bidirectional encoder model: the one stack (blocks/stack.py) built with ``causal=False``,
and the heads an encoder family pre-trains with.

The only mask is padding. Embeddings are tokens + positions + segments (BERT's sentence A/B),
optionally normalised (``cfg.norm.after_embeddings``); post-LN blocks come from ``cfg.norm.placement="post"``;
factorized embeddings (``cfg.embedding.dim``: ALBERT, ELECTRA) and cross-layer sharing
(``cfg.layer_groups``: ALBERT) are options of the stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from ..core.config import ModelConfig
from ..core.errors import UserError
from ..heads.pooler import mean_pool
from ..heads.registry import HEADS
from ..blocks.init import init_weights
from ..blocks.stack import Stack
from .capabilities import ModelCapabilities, encoder_refusal


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
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # every head's output, by what it writes
    attentions: tuple[torch.Tensor, ...] | None = None  # each layer's attention probabilities (B, H, T, T)


class EncoderModel(ModelCapabilities, nn.Module):
    """An encoder stack with the heads ``cfg.heads`` names, from the registry ``heads.registry.HEADS``
    (pooler, mlm, nsp, sop, rtd, and the fine-tuning heads classifier, choice, tagger, span); each
    is an attribute of that name (None when not chosen). The MLM head is tied to the word embeddings
    when ``cfg.embedding.tie``. ``positions``: the stack's position schemes by name; default
    ``(cfg.position,)``."""

    sentence_encoder = True

    def __init__(self, cfg: ModelConfig, positions: tuple[str, ...] | None = None):
        super().__init__()
        self.head_names = _check_heads(cfg)
        self.config = cfg
        self.backbone = self.make_backbone(cfg, positions)
        for name, spec in HEADS.items():
            setattr(self, name, spec.build(cfg) if name in self.head_names else None)
        self.apply(partial(init_weights, cfg=cfg))
        for name in self.head_names:
            if HEADS[name].tied and cfg.embedding.tie:
                getattr(self, name).tie(self.backbone.embed_tokens)

    def make_backbone(self, cfg: ModelConfig, positions: tuple[str, ...] | None) -> Stack:
        """The stack (a hook: an image encoder builds its patch embeddings here, before it)."""
        return Stack(cfg, causal=False, positions=positions)

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    tokenizer = None  # set by ``lmlineage.load`` when the checkpoint carries one

    def summary(self, hidden, pooled, attention_mask) -> torch.Tensor:
        """(B, d): what sentence-level heads read, by ``cfg.pooling``: "mean": the sentence
        embedding, the mean of the real tokens L2-normalised (as sentence embedders were trained:
        Sentence-BERT; sentence-transformers' Pooling + Normalize modules); else C: pooled [CLS], or [CLS]."""
        if self.config.pooling == "mean":
            return F.normalize(mean_pool(hidden, attention_mask), dim=-1)
        return pooled if pooled is not None else hidden[:, 0]

    def uses(self) -> list[str]:
        """What this encoder is for, as `lmlineage` verbs (an encoder does not generate text)."""
        fine_tuned = any(HEADS[name].fine_tuning for name in self.head_names)
        verbs = ["predict (its fine-tuned task)"] if fine_tuned else []
        verbs.append("embed (sentence vectors)")
        if self.predicts_masked_tokens:
            verbs.append("eval (masked-LM loss and accuracy)")
        if not fine_tuned:
            verbs.append("finetune (classify, pair, tag, qa, choice)")
        return verbs

    def text_refusal(self) -> tuple[str, str]:
        return encoder_refusal(self)

    @property
    def predicts_masked_tokens(self) -> bool:
        """Whether a head of this model predicts the tokens at masked positions (BERT's, XLM's)."""
        return any(HEADS[name].reads == "masked" for name in self.head_names)

    def default_positions(self, input_ids):
        """Position ids when the caller gives none; None: 0, 1, 2, ... (a family's hook)."""
        return None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
                output_hidden_states=False, mlm_positions=None, output_attentions=False) -> EncoderOutput:
        """``mlm_positions``: a (B, T) boolean mask; the MLM logits are then computed there only,
        as (N, vocab): training predicts ~15% of positions, so the vocabulary projection shrinks.
        ``output_attentions``: every layer's attention probabilities too (the eager path computes them)."""
        hidden, states, attentions = self.encode(input_ids, attention_mask, token_type_ids, position_ids,
                                                 output_hidden_states, output_attentions)
        return self.output(hidden, states, attentions, attention_mask, mlm_positions)

    def encode(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
               output_hidden_states=False, output_attentions=False):
        """The stack's pass: last hidden states, per-layer states (or None), attention probabilities (or None)."""
        if position_ids is None:
            position_ids = self.default_positions(input_ids)
        attentions = [] if output_attentions else None
        hidden, states = self.backbone(input_ids, attention_mask, position_ids,
                                       output_hidden_states=output_hidden_states, token_type_ids=token_type_ids,
                                       attentions=attentions)
        return hidden, states, attentions

    def output(self, hidden, states, attentions, attention_mask=None, mlm_positions=None, **outputs) -> EncoderOutput:
        """The heads on the stack's output (hidden states, per-layer states, attention probabilities);
        ``outputs``: what a model adds besides the heads' (ERNIE's entity stream)."""
        for name in self.head_names:
            spec = HEADS[name]
            if spec.writes not in outputs:  # the first head to write an output fills it (nsp before sop)
                outputs[spec.writes] = getattr(self, name)(self._source(spec.reads, hidden, outputs, mlm_positions,
                                                                        attention_mask))
        named = {f.name for f in fields(EncoderOutput)}
        return EncoderOutput(last_hidden_state=hidden, hidden_states=tuple(states) if states else None,
                             outputs=outputs, attentions=tuple(attentions) if attentions else None,
                             **{k: v for k, v in outputs.items() if k in named})

    def _source(self, reads: str, hidden, outputs, mlm_positions, attention_mask):
        """What a head reads (heads/registry.py): every position, the MLM's chosen positions, the
        pooled [CLS], or the sentence summary (``summary``)."""
        if reads == "hidden":
            return hidden
        if reads == "masked":
            return hidden if mlm_positions is None else hidden[mlm_positions]
        if reads == "pooled":
            return outputs.get("pooled")
        return self.summary(hidden, outputs.get("pooled"), attention_mask)


def _check_heads(cfg: ModelConfig) -> tuple[str, ...]:
    """The chosen heads in the registry's order (the order they are built in), or a UserError."""
    heads = list(cfg.heads or ())
    unknown = sorted(set(heads) - set(HEADS))
    if unknown:
        raise UserError(f"config heads: unknown head(s) {', '.join(unknown)}", f"choose from {', '.join(HEADS)}")
    for name in heads:
        if HEADS[name].reads == "pooled" and "pooler" not in heads:
            raise UserError(f"config heads: {name} classifies the pooled [CLS] vector", "add 'pooler' to heads")
    chosen = [h for h in heads if HEADS[h].fine_tuning]
    if len(chosen) > 1:
        raise UserError(f"config heads: one fine-tuning head at a time, got {', '.join(chosen)}")
    if any(HEADS[h].labelled for h in chosen) and not cfg.labels:
        raise UserError(f"config heads: the {chosen[0]} needs its label names", 'set labels, e.g. ["neg", "pos"]')
    return tuple(name for name in HEADS if name in heads)
