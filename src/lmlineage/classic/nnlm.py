"""The neural probabilistic language model (Bengio, Ducharme, Vincent & Jauvin 2003, JMLR).

Each of the n-1 previous words is looked up in one shared matrix C (|V| x m); the looked-up rows
are concatenated into x ((n-1) m), and (Sec. 2, eq. 1)

    y = b + W x + U tanh(d + H x),        P(w_t | context) = softmax(y)

where W (|V| x (n-1) m) holds the optional direct connections from the input to the output
(W = 0 without them). Contexts do not cross a sentence end: the words before the last ``</s>``
are replaced by ``<s>``, so the model conditions on what the n-gram LM conditions on.

It speaks the generation engine's step protocol (``model(ids, cache=...)``, ``new_cache``): its
cache is the last n-1 words.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core.config import FamilyConfig, classic_flat, require_positive
from ..core.errors import UserError
from ..tokenizers.word import BOS, EOS
from .word_lm import WordLM


@dataclass
class NNLMOutput:
    logits: torch.Tensor


class History:
    """The engine's cache for an NNLM: the last n-1 tokens of every row."""

    def __init__(self, tokens: torch.Tensor):
        self.tokens = tokens


def sentence_contexts(ids: torch.Tensor, width: int, history: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T) ids -> (B, T, width): the ``width`` tokens ending at each position, oldest first, with
    every token up to the last ``</s>`` so far (and anything before ``history``) read as ``<s>``."""
    b, t = ids.shape
    if history is None:
        history = torch.full((b, width), BOS, dtype=ids.dtype, device=ids.device)
    x = torch.cat([history, ids], dim=1)  # position p of x is position p - width of ids
    windows = x.unfold(1, width, 1)[:, 1:]  # window ending at each position of ids
    positions = torch.arange(t + width, device=ids.device)
    ended = torch.where(x == EOS, positions, torch.full_like(positions, -1)).cummax(dim=1).values[:, width:]
    inside = positions[None, :t, None] - width + 1 + torch.arange(width, device=ids.device)  # p in ids coords
    return torch.where(inside + width <= ended[..., None], torch.full_like(windows, BOS), windows)


@dataclass
class NNLMConfig(FamilyConfig):
    """The NNLM's sizes in the paper's letters; ``max_positions``: the training window."""

    family: str = "nnlm"
    max_positions: int = 64
    order: int = 5  # n: the n-1 previous words are the input
    embed_dim: int = 60  # m: features per word (the shared matrix C)
    hidden: int = 100  # h: tanh hidden units (0: none)
    direct: bool = False  # direct connections from the input features to the output (W)
    init_std: float = 0.02

    FLAT = classic_flat(d_model="embed_dim", d_ff="hidden", init_std="init_std", **{"extra.order": "order",
                        "extra.direct": "direct"})

    def validate(self, where: str = "") -> None:
        super().validate(where)
        require_positive(self, where, "order", "embed_dim")
        if self.order < 2:
            raise UserError(f"config order={self.order} conditions on no word", "use an order of 2 or more")
        if self.hidden < 0 or not (self.hidden or self.direct):
            raise UserError(f"config hidden={self.hidden}, direct={self.direct}: an NNLM needs hidden units "
                            "or direct connections", "set hidden > 0 or direct")
        if not 0 <= self.init_std < float("inf"):
            raise UserError(f"config init_std must be a number >= 0, got {self.init_std}")


class NNLM(WordLM, nn.Module):
    """Bengio et al.'s y = b + W x + U tanh(d + H x), x the n-1 context words' features (section 2)."""

    def __init__(self, cfg: NNLMConfig):
        super().__init__()
        self.config = cfg
        self.order = cfg.order
        width = (self.order - 1) * cfg.embed_dim
        self.C = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        hidden = cfg.hidden
        self.H = nn.Linear(width, hidden) if hidden else None  # weights H, bias d
        self.U = nn.Linear(hidden, cfg.vocab_size, bias=False) if hidden else None
        self.W = nn.Linear(width, cfg.vocab_size, bias=False) if cfg.direct else None
        self.b = nn.Parameter(torch.zeros(cfg.vocab_size))
        nn.init.normal_(self.C.weight, std=cfg.init_std * 5)
        for layer in (self.H, self.U, self.W):
            if layer is not None:
                nn.init.normal_(layer.weight, std=cfg.init_std)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)

    def logits_from_contexts(self, contexts: torch.Tensor) -> torch.Tensor:
        """(..., n-1) context ids -> (..., |V|) scores y."""
        x = self.C(contexts).flatten(-2)
        y = self.b
        if self.U is not None:
            y = y + self.U(torch.tanh(self.H(x)))
        if self.W is not None:
            y = y + self.W(x)
        return y

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache: History | None = None,
                logits_slice=None, **_) -> NNLMOutput:
        if attention_mask is not None:  # left padding: read as sentence start
            input_ids = torch.where(attention_mask[:, -input_ids.shape[1]:].bool(), input_ids,
                                    torch.full_like(input_ids, BOS))
        width = self.order - 1
        contexts = sentence_contexts(input_ids, width, cache.tokens if cache is not None else None)
        if cache is not None:
            cache.tokens = torch.cat([cache.tokens, input_ids], dim=1)[:, -width:]
        if logits_slice is not None:
            contexts = contexts[:, logits_slice:] if logits_slice < 0 else contexts[:, :logits_slice]
        return NNLMOutput(self.logits_from_contexts(contexts))

    def new_cache(self, batch_size: int, max_length: int = 0, static: bool = False) -> History:
        device = self.b.device
        return History(torch.full((batch_size, self.order - 1), BOS, dtype=torch.long, device=device))

    @torch.no_grad()
    def token_logprobs(self, ids: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
        """log P of every token of a stream of sentences (each ending in ``</s>``), from its own sentence."""
        device = self.b.device
        shifted = torch.cat([torch.tensor([EOS]), ids[:-1].cpu()])[None]  # a sentence end before the first
        contexts = sentence_contexts(shifted, self.order - 1)[0]
        out = []
        for start in range(0, len(ids), chunk):
            logits = self.logits_from_contexts(contexts[start : start + chunk].to(device)).float()
            target = ids[start : start + chunk].to(device)
            out.append(logits.log_softmax(-1).gather(-1, target[:, None])[:, 0].cpu())
        return torch.cat(out)
