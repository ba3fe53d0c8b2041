"""The bidirectional encoder: embeddings, a stack of the shared blocks attending both ways, and
the heads an encoder family pre-trains with.

The blocks are the decoder's own (``Block``), called with ``is_causal=False``; the only mask
is padding. Embeddings are tokens + learned positions + segments (BERT's sentence A/B),
optionally normalised (``cfg.embed_norm``); post-LN blocks come from ``cfg.residual="post"``.
Two stack options: factorized embeddings (``cfg.embed_dim`` < d_model, projected up to the
blocks' width: ALBERT, ELECTRA) and cross-layer sharing (``cfg.layer_groups``: ALBERT's one
set of block weights applied n_layer times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from ..core import masks
from ..core.config import ModelConfig
from ..core.errors import UserError
from ..heads.mlm import MLMHead
from ..heads.nsp import SegmentPairHead
from ..heads.pooler import POOLINGS, Pooler, mean_pool
from ..heads.rtd import ReplacedTokenHead
from ..heads.tasks import ChoiceScorer, SequenceClassifier, SpanHead, TokenClassifier
from ..layers.norm import make_norm
from ..layers.positions import make_positions
from ..layers.rotary import Rotary
from .block import Block
from .init import init_weights

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


class EncoderStack(nn.Module):
    """Embeddings + blocks (+ final norm where the family has one): hidden states, no head."""

    def __init__(self, cfg: ModelConfig, qk_transform=None, score_bias=None, score_mod=None):
        super().__init__()
        self.cfg = cfg
        if qk_transform is None and cfg.position == "rotary":
            qk_transform = Rotary(cfg.dim_head, cfg.rope_theta, cfg.rotary_fraction, cfg.rope_layout)
        self.rotary, self.score_bias = qk_transform, score_bias  # shared by every layer
        # A parameterised hook (DeBERTa's relative table) is registered here, once; the layers
        # get its bound call, so its parameters are not repeated under every layer.
        self.score_mod = score_mod
        layer_score_mod = score_mod.__call__ if isinstance(score_mod, nn.Module) else score_mod
        width = cfg.embed_dim or cfg.d_model
        self.embed_tokens = nn.Embedding(cfg.vocab_size, width)
        self.embed_positions = make_positions(cfg.position, cfg.max_positions, width)
        self.embed_segments = nn.Embedding(cfg.type_vocab_size, width) if cfg.type_vocab_size else None
        self.embed_norm = make_norm(cfg.norm, width, cfg.norm_eps, cfg.bias) if cfg.embed_norm else None
        self.embed_proj = nn.Linear(width, cfg.d_model) if width != cfg.d_model else None
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            Block(cfg, i, qk_transform=qk_transform, score_bias=score_bias, score_mod=layer_score_mod)
            for i in range(cfg.layer_groups or cfg.n_layer)
        )
        self.norm = make_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias) if cfg.final_norm else None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
                output_hidden_states=False):
        """``attention_mask`` (B, T): 1 for real tokens; ``token_type_ids`` (B, T): segment ids."""
        b, t = input_ids.shape
        if t > self.cfg.max_positions and self.embed_positions is not None:
            raise ValueError(f"sequence of {t} tokens exceeds max_positions={self.cfg.max_positions}")
        if position_ids is None:
            position_ids = torch.arange(t, device=input_ids.device)[None, :]
        key_mask = None if attention_mask is None or bool(attention_mask.all()) else attention_mask
        mask, _ = masks.build(t, t, is_causal=False, key_mask=key_mask, device=input_ids.device)

        x = self.embed_tokens(input_ids)
        if self.cfg.embed_scale:  # Vaswani et al. 2017, section 3.4, as the decoder stack does
            x = x * math.sqrt(self.cfg.d_model)
        if self.embed_positions is not None:
            x = x + self.embed_positions(position_ids)
        if self.embed_segments is not None:
            segments = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            x = x + self.embed_segments(segments)
        if self.embed_norm is not None:
            x = self.embed_norm(x)
        x = self.drop(x)
        if self.embed_proj is not None:
            x = self.embed_proj(x)
        hidden = [x] if output_hidden_states else None
        for i in range(self.cfg.n_layer):
            layer = self.layers[i * len(self.layers) // self.cfg.n_layer]  # a run of layers shares a group
            x = layer(x, mask=mask, is_causal=False, positions=position_ids,
                      key_positions=position_ids.expand(b, -1))
            if hidden is not None:
                hidden.append(x)
        if self.norm is not None:
            x = self.norm(x)
        return x, hidden


class EncoderModel(nn.Module):
    """An encoder stack with the heads ``cfg.heads`` names; the model encoder families build.

    ``pooler``: dense + tanh on [CLS]; ``mlm``: the masked-LM head, tied to the word embeddings
    when ``cfg.tie_embeddings``; ``nsp`` / ``sop``: the segment-pair classifier on the pooled
    vector (next sentence or sentence order); ``rtd``: ELECTRA's replaced-token detector;
    ``classifier`` / ``choice`` / ``tagger`` / ``span``: a fine-tuning head (heads/tasks.py)."""

    def __init__(self, cfg: ModelConfig, qk_transform=None, score_bias=None, score_mod=None):
        super().__init__()
        heads = list(cfg.heads or ())
        unknown = sorted(set(heads) - set(HEADS))
        if unknown:
            raise UserError(f"config heads: unknown head(s) {', '.join(unknown)}", f"choose from {', '.join(HEADS)}")
        for pair in PAIR_HEADS:
            if pair in heads and "pooler" not in heads:
                raise UserError(f"config heads: {pair} classifies the pooled [CLS] vector", "add 'pooler' to heads")
        self.config = cfg
        self.backbone = EncoderStack(cfg, qk_transform, score_bias, score_mod)
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
        if cfg.extra.get("pooling", "cls") not in POOLINGS:
            raise UserError(f"config extra.pooling={cfg.extra['pooling']!r} is not supported",
                            f"choose one of: {', '.join(POOLINGS)}")
        if any(h in LABELLED_HEADS for h in chosen) and not (isinstance(labels, list) and labels):
            raise UserError(f"config heads: the {chosen[0]} needs its label names",
                            'set extra.labels, e.g. ["neg", "pos"]')
        d = cfg.d_model
        self.classifier = SequenceClassifier(d, len(labels), cfg.dropout) if "classifier" in heads else None
        self.choice = ChoiceScorer(d, cfg.dropout) if "choice" in heads else None
        self.tagger = TokenClassifier(d, len(labels), cfg.dropout) if "tagger" in heads else None
        self.span = SpanHead(d) if "span" in heads else None

    def summary(self, hidden, pooled, attention_mask) -> torch.Tensor:
        """(B, d): what sentence-level heads read, by ``cfg.extra["pooling"]``: "mean": the sentence
        embedding, the mean of the real tokens L2-normalised (as sentence embedders were trained:
        Sentence-BERT; sentence-transformers' Pooling + Normalize modules); else C: pooled [CLS], or [CLS]."""
        if self.config.extra.get("pooling") == "mean":
            return F.normalize(mean_pool(hidden, attention_mask), dim=-1)
        return pooled if pooled is not None else hidden[:, 0]

    def _task_logits(self, hidden, pooled, attention_mask):
        sentence_level = self.classifier is not None or self.choice is not None
        summary = self.summary(hidden, pooled, attention_mask) if sentence_level else None
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
        hidden, states = self.backbone(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        predicted = hidden if mlm_positions is None else hidden[mlm_positions]
        return EncoderOutput(
            last_hidden_state=hidden,
            hidden_states=tuple(states) if states else None,
            pooled=pooled,
            logits=self.mlm(predicted) if self.mlm is not None else None,
            pair_logits=next((head(pooled) for head in (self.nsp, self.sop) if head is not None), None),
            rtd_logits=self.rtd(hidden) if self.rtd is not None else None,
            task_logits=self._task_logits(hidden, pooled, attention_mask),
        )
