"""The permutation LM objective as XLNet states it (Yang et al. 2019, sections 2.2-2.3, and the
released code's masks): a uniformly random order per row, only its last 1/K predicted, targets
reading the context and the targets before them in the order, context reading only context."""

import torch

from lmlineage.objectives.plm import PermutationLM


def order_of(perm_mask, target_mapping):
    """The targets of each row sorted by how many other targets they may read (their place in the order)."""
    places = target_mapping.argmax(-1)
    reads = (~perm_mask).gather(1, places[:, :, None].expand(-1, -1, perm_mask.shape[-1]))
    return places, reads


def test_the_last_sixth_of_a_random_order_is_predicted():
    ids = torch.randint(0, 50, (4, 36))
    perm, targets, labels = PermutationLM(k=6).prepare(ids, torch.Generator().manual_seed(0))
    assert targets.shape == (4, 6, 36) and labels.shape == (4, 6)
    assert torch.equal(targets.sum(-1), torch.ones(4, 6))  # one-hot rows
    places = targets.argmax(-1)
    assert torch.equal(labels, ids.gather(1, places))
    is_target = targets.sum(1).bool()  # (B, T)
    for b in range(4):
        t = is_target[b]
        context = ~t
        # context reads all context and no target; nobody masks context from anyone
        assert bool((~perm[b][context][:, context]).all()) and bool(perm[b][context][:, t].all())
        assert not bool(perm[b][:, context].any())
        # the targets read one another as a strict order: 0, 1, ..., 5 earlier targets, never themselves
        reads = (~perm[b][t][:, t])
        assert sorted(reads.sum(-1).tolist()) == list(range(6))
        assert not bool(reads.diagonal().any())
        assert bool((reads & reads.T).sum() == 0)  # never both ways


def test_orders_are_random_and_uniform_over_positions():
    ids = torch.zeros(2000, 12, dtype=torch.long)
    _, targets, _ = PermutationLM(k=4).prepare(ids, torch.Generator().manual_seed(1))
    share = targets.sum((0, 1)) / targets.sum()
    assert torch.allclose(share, torch.full((12,), 1 / 12), atol=0.01)  # every position as often a target
    assert len({tuple(r) for r in targets.argmax(-1).tolist()}) > 200  # many different target sets


def test_padding_is_never_a_target():
    ids = torch.randint(0, 50, (3, 10))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0
    mask[2, 7:] = 0
    _, targets, _ = PermutationLM(k=2).prepare(ids, torch.Generator().manual_seed(2), mask)
    assert targets.shape[1] == 3  # half of the shortest row's 6 real tokens
    assert not bool((targets.sum(1) * (1 - mask)).any())
