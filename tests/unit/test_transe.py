"""TransE (Bordes et al. 2013) learns: on held-out triples of a graph with structure, the true tail
ranks far above chance; its corruption replaces exactly one side; entities end normalised."""

import torch

from lmlineage.classic.transe import TransE, corrupt, train_transe


def family_graph(families: int = 12, size: int = 8):
    """Siblings (relation 0) between every two members of a family, and each member's father
    (relation 1, the family's first member): held-out sibling pairs follow from the others."""
    triples = []
    for f in range(families):
        members = [f * size + i for i in range(size)]
        triples += [(a, 0, b) for a in members for b in members if a != b]
        triples += [(m, 1, members[0]) for m in members[1:]]
    return torch.tensor(triples), families * size


def test_held_out_triples_rank_far_better_than_random():
    triples, n_entities = family_graph()
    order = torch.randperm(len(triples), generator=torch.Generator().manual_seed(0))
    held_out, train = triples[order[:60]], triples[order[60:]]
    model = train_transe(train, n_entities, 2, dim=16, epochs=30, batch_size=32, lr=0.01, seed=0)
    ranks = model.tail_ranks(held_out).float()
    chance = (n_entities + 1) / 2
    assert ranks.mean() < chance / 5, ranks.mean()
    untrained = TransE(n_entities, 2, 16).tail_ranks(held_out).float()
    assert ranks.mean() < untrained.mean() / 3
    assert torch.allclose(model.entities.weight.norm(dim=-1), torch.ones(n_entities), atol=1e-5)


def test_corruption_replaces_the_head_or_the_tail_never_the_relation():
    triples = torch.tensor([[1, 0, 2]] * 1000)
    bad = corrupt(triples, 50, torch.Generator().manual_seed(0))
    assert (bad[:, 1] == 0).all()
    head_changed, tail_changed = bad[:, 0] != 1, bad[:, 2] != 2
    assert not (head_changed & tail_changed).any()
    assert 0.4 < head_changed.float().mean() < 0.6 and 0.4 < tail_changed.float().mean() < 0.6


def test_margin_loss_is_zero_once_negatives_are_a_margin_further():
    model = TransE(3, 1, 4, norm=2, margin=1.0)
    with torch.no_grad():
        model.entities.weight.copy_(torch.tensor([[0.0] * 4, [1.0, 0, 0, 0], [0, 0, 0, 5.0]]))
        model.relations.weight.copy_(torch.tensor([[1.0, 0, 0, 0]]))
    positive, negative = torch.tensor([[0, 0, 1]]), torch.tensor([[0, 0, 2]])
    assert model.distance(positive).item() == 0.0
    assert model.loss(positive, negative).item() == 0.0  # d(neg) = sqrt(26) > 0 + margin
    assert model.loss(negative, positive).item() > 1.0
