"""Sparrow's reranking (Glaese et al. 2022, "Improving alignment of dialogue agents via targeted
human judgements", sections 2.3-2.5): sample N replies, score each with a preference reward model
and with one rule-violation classifier per rule, and answer with the reply that has the highest
preference minus rule-violation score; evidence for the reply is retrieved from a local corpus
(BM25 over the built-in texts; Sparrow searched Google).

The reward and rule models here are kept minimal on purpose: a bag of hashed features of the
(question, evidence, reply) triple, averaged in one ``EmbeddingBag``, read by the scalar head of
``heads.scalar`` (which a reward model on a Transformer backbone reads the same way). The features
are generic: the reply's words (numbers by their shape), each marked by whether it also occurs in
the question and in the evidence, and whether the reply shares any word with the question. Rule
models are trained by logistic loss on labelled replies; the preference model by the
Bradley-Terry loss on pairs (the better reply's score above the worse one's).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import torch
from torch import nn

from ..heads.scalar import ScalarHead

BUCKETS = 1 << 14


def _shape(word: str) -> str:
    return "#" * len(word) if word.isdigit() else word


def features(question: str, evidence: str, reply: str) -> list[str]:
    """What the small models read: generic word and overlap features of the triple."""
    def words(text):
        return re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower())

    asked, held, said = set(words(question)), set(words(evidence)), words(reply)
    out = [f"r:{_shape(w)}" for w in said]
    out += [f"r-{'in' if w in held else 'not-in'}-evidence:{_shape(w)}" for w in said]
    out += [f"r-{'in' if w in asked else 'not-in'}-question:{_shape(w)}" for w in said]
    out.append("shares-question-word" if asked & set(said) - {"the", "a", "of", "in", "about", "you"} else
               "shares-no-question-word")
    out.append(f"length:{min(len(said), 20) // 4}")
    return out


def hashed(batch: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat feature ids and offsets for ``nn.EmbeddingBag`` (crc32: the same ids in every process)."""
    ids, offsets = [], []
    for row in batch:
        offsets.append(len(ids))
        ids += [zlib.crc32(f.encode()) % BUCKETS for f in row] or [0]
    return torch.tensor(ids), torch.tensor(offsets)


class TripleScorer(nn.Module):
    """A scalar per (question, evidence, reply): a rule's violation logit or a preference reward."""

    def __init__(self, dim: int = 32):
        super().__init__()
        self.bag = nn.EmbeddingBag(BUCKETS, dim, mode="mean")
        self.head = ScalarHead(dim)

    def forward(self, triples: list[tuple[str, str, str]]) -> torch.Tensor:
        ids, offsets = hashed([features(*t) for t in triples])
        return self.head(torch.tanh(self.bag(ids, offsets)))


def _fit(model: nn.Module, loss_of, n: int, epochs: int, batch_size: int, lr: float, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for rows in torch.randperm(n, generator=generator).split(batch_size):
            loss = loss_of(rows.tolist())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def train_rule_model(triples: list[tuple[str, str, str]], broken: list[bool], *, epochs: int = 4,
                     batch_size: int = 64, lr: float = 0.02, seed: int = 0) -> TripleScorer:
    """A classifier of one rule: logit of P(the reply breaks it)."""
    torch.manual_seed(seed)
    model, labels = TripleScorer(), torch.tensor(broken, dtype=torch.float)
    return _fit(model, lambda rows: nn.functional.binary_cross_entropy_with_logits(
        model([triples[i] for i in rows]), labels[rows]), len(triples), epochs, batch_size, lr, seed)


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(r_chosen - r_rejected), averaged over pairs."""
    return -nn.functional.logsigmoid(chosen - rejected).mean()


def train_preference_model(pairs: list[tuple[tuple[str, str, str], tuple[str, str, str]]], *, epochs: int = 4,
                           batch_size: int = 64, lr: float = 0.02, seed: int = 0) -> TripleScorer:
    """A reward model from (better, worse) pairs of triples."""
    torch.manual_seed(seed)
    model = TripleScorer()
    return _fit(model, lambda rows: bradley_terry_loss(model([pairs[i][0] for i in rows]),
                                                       model([pairs[i][1] for i in rows])),
                len(pairs), epochs, batch_size, lr, seed)


@dataclass
class Scored:
    reply: str
    preference: float
    violation: dict[str, float]  # rule -> P(broken)
    score: float  # preference minus weighted violations


@torch.no_grad()
def rerank(question: str, evidence: str, replies: list[str], preference: TripleScorer,
           rules: dict[str, TripleScorer], weight: float = 3.0) -> list[Scored]:
    """``replies`` best first by preference - weight * sum of rule-violation probabilities (Sparrow's
    reranking, section 2.5, with the rule models' probabilities in place of a rule RM's logits)."""
    triples = [(question, evidence, r) for r in replies]
    reward = preference(triples)
    broken = {name: torch.sigmoid(model(triples)) for name, model in rules.items()}
    scored = [Scored(r, float(reward[i]), {n: float(p[i]) for n, p in broken.items()},
                     float(reward[i]) - weight * sum(float(p[i]) for p in broken.values()))
              for i, r in enumerate(replies)]
    return sorted(scored, key=lambda s: -s.score)
