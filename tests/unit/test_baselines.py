"""The trivial baselines the objectives' held-out metrics are read against."""

import math

import torch

from lmlineage.tasks.baselines import most_frequent_share, unigram_entropy


def test_unigram_entropy_is_the_loss_of_the_counts_own_frequencies():
    counts = torch.tensor([0, 3, 1, 0, 4])
    share = torch.tensor([3, 1, 4], dtype=torch.float64) / 8
    assert math.isclose(unigram_entropy(counts), float(-(share * share.log()).sum()), rel_tol=1e-12)
    # No model that ignores context does better: any other distribution costs the cross-entropy.
    other = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    assert float(-(share * other.log()).sum()) > unigram_entropy(counts)
    assert unigram_entropy(torch.tensor([0, 5, 0])) == 0.0
    assert math.isnan(unigram_entropy(torch.zeros(4, dtype=torch.long)))


def test_most_frequent_share():
    assert most_frequent_share(torch.tensor([1, 6, 3])) == 0.6
    assert math.isnan(most_frequent_share(torch.zeros(3, dtype=torch.long)))
