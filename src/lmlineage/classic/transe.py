"""TransE (Bordes et al. 2013, "Translating Embeddings for Modeling Multi-relational Data"): a
relation is a translation in the entity embedding space, h + r ~ t for a true triple (h, r, t).

Algorithm 1 of the paper: entities and relations drawn from U(-6/sqrt(k), 6/sqrt(k)), relations
L2-normalised once; at every step the entity vectors are L2-normalised, a batch of true triples is
corrupted (head or tail replaced by a random entity, never both), and the margin ranking loss
sum [gamma + d(h + r, t) - d(h' + r, t')]_+ is taken by SGD, d the L1 or L2 distance (section 2).
ERNIE (Zhang et al. 2019, section 4.1) uses the entity vectors it learns, frozen, as the knowledge
it fuses into the text encoder (k = 100 in the paper).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TransE(nn.Module):
    def __init__(self, n_entities: int, n_relations: int, dim: int, norm: int = 1, margin: float = 1.0):
        super().__init__()
        if norm not in (1, 2):
            raise ValueError("TransE's distance is the L1 or L2 norm")
        self.norm, self.margin = norm, margin
        self.entities = nn.Embedding(n_entities, dim)
        self.relations = nn.Embedding(n_relations, dim)
        bound = 6 / math.sqrt(dim)
        nn.init.uniform_(self.entities.weight, -bound, bound)
        nn.init.uniform_(self.relations.weight, -bound, bound)
        with torch.no_grad():
            self.relations.weight.copy_(nn.functional.normalize(self.relations.weight, dim=-1))

    def distance(self, triples: torch.Tensor) -> torch.Tensor:
        """(N, 3) (head, relation, tail) ids -> (N,) d(h + r, t)."""
        h, r, t = self.entities(triples[:, 0]), self.relations(triples[:, 1]), self.entities(triples[:, 2])
        return (h + r - t).norm(p=self.norm, dim=-1)

    def loss(self, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        """The margin ranking loss, summed over the batch (as the paper's Algorithm 1)."""
        return torch.relu(self.margin + self.distance(positive) - self.distance(negative)).sum()

    @torch.no_grad()
    def normalise_entities(self) -> None:
        self.entities.weight.copy_(nn.functional.normalize(self.entities.weight, dim=-1))

    @torch.no_grad()
    def tail_ranks(self, triples: torch.Tensor) -> torch.Tensor:
        """(N,) the rank (1 = best) of each true tail among every entity as the tail of (h, r, ?)
        ("raw" ranking, section 4.2)."""
        query = self.entities(triples[:, 0]) + self.relations(triples[:, 1])
        distances = torch.cdist(query, self.entities.weight, p=self.norm)  # (N, entities)
        true = distances.gather(1, triples[:, 2:3])
        return (distances < true).sum(dim=1) + 1


def corrupt(triples: torch.Tensor, n_entities: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each triple with its head or its tail (one of the two, evenly) replaced by a random entity."""
    random = torch.randint(n_entities, (len(triples),), generator=generator)
    replace_head = torch.rand(len(triples), generator=generator) < 0.5
    out = triples.clone()
    out[:, 0] = torch.where(replace_head, random, triples[:, 0])
    out[:, 2] = torch.where(replace_head, triples[:, 2], random)
    return out


def train_transe(triples, n_entities: int, n_relations: int, dim: int = 100, norm: int = 1, margin: float = 1.0,
                 epochs: int = 100, batch_size: int = 128, lr: float = 0.01, seed: int = 0) -> TransE:
    """TransE fitted to ``triples`` ((N, 3) ids, or a list of them) by Algorithm 1, with entity
    vectors normalised at the end too (what ERNIE reads)."""
    triples = torch.as_tensor(triples, dtype=torch.long).reshape(-1, 3)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # the caller's RNG stream is left where it was
        torch.manual_seed(seed)
        model = TransE(n_entities, n_relations, dim, norm, margin)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # steps this small only lose to thread hand-offs (10x slower on a busy CPU)
    try:
        _fit(model, optimizer, triples, n_entities, epochs, batch_size, generator)
    finally:
        torch.set_num_threads(threads)
    model.normalise_entities()
    return model.eval()


def _fit(model, optimizer, triples, n_entities, epochs, batch_size, generator) -> None:
    for _ in range(epochs):
        order = torch.randperm(len(triples), generator=generator)
        for start in range(0, len(triples), batch_size):
            model.normalise_entities()
            batch = triples[order[start:start + batch_size]]
            loss = model.loss(batch, corrupt(batch, n_entities, generator))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
