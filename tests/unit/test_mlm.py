"""The masked-LM and next-sentence objectives do what BERT's paper states (section 3.1):
15% of ordinary tokens chosen, of which 80% [MASK], 10% random, 10% kept; NSP pairs half
true successors, half random sentences from other documents."""

import random

import torch

from lmlineage.objectives.mlm import MaskedLM
from lmlineage.objectives.nsp import IS_NEXT, NOT_NEXT, NextSentencePrediction

PAD, UNK, CLS, SEP, MASK = range(5)
VOCAB = 1000


def padded_batch(rows=250, length=512):
    """[CLS] ... [SEP] rows with right padding: about 100k ordinary tokens."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, VOCAB, (rows, length), generator=g)
    mask = torch.ones_like(ids)
    lengths = torch.randint(length // 2, length + 1, (rows,), generator=g)
    for row, n in enumerate(lengths.tolist()):
        ids[row, 0], ids[row, n - 1] = CLS, SEP
        ids[row, n:], mask[row, n:] = PAD, 0
    return ids, mask


def test_replacement_fractions_follow_the_paper():
    ids, mask = padded_batch()
    objective = MaskedLM(mask_id=MASK, vocab_size=VOCAB, special_ids=(PAD, UNK, CLS, SEP))
    out = objective.prepare({"input_ids": ids, "attention_mask": mask}, generator=torch.Generator().manual_seed(1))
    ordinary = mask.bool() & (ids > MASK)
    assert ordinary.sum() > 90_000
    chosen = out["labels"] != -100
    assert not bool((chosen & ~ordinary).any()), "a special or padding token was chosen"
    assert torch.equal(out["labels"][chosen], ids[chosen])
    assert torch.equal(out["input_ids"][~chosen], ids[~chosen]), "an unchosen token changed"

    new = out["input_ids"][chosen]
    masked = (new == MASK).float().mean()
    kept = (new == ids[chosen]).float().mean()
    randomised = ((new != MASK) & (new != ids[chosen])).float().mean()
    assert abs(chosen.sum() / ordinary.sum() - 0.15) < 0.01
    assert abs(masked - 0.8) < 0.01 and abs(randomised - 0.1) < 0.01 and abs(kept - 0.1) < 0.01
    assert bool((new[(new != MASK) & (new != ids[chosen])] > MASK).all()), "random tokens include specials"


def test_every_row_gets_its_share_and_short_rows_at_least_one():
    objective = MaskedLM(mask_id=MASK, vocab_size=VOCAB, special_ids=(PAD, CLS, SEP))
    ids = torch.tensor([[CLS] + list(range(10, 30)) + [SEP], [CLS, 40, SEP] + [PAD] * 19])
    labels = objective.prepare(ids, generator=torch.Generator().manual_seed(0))["labels"]
    assert (labels != -100).sum(dim=1).tolist() == [3, 1]  # round(0.15 * 20), max(1, round(0.15))


def test_loss_counts_only_chosen_positions():
    objective = MaskedLM(mask_id=MASK, vocab_size=8)
    logits = torch.zeros(1, 3, 8)
    logits[0, 1, 6] = 100.0
    labels = torch.tensor([[-100, 6, -100]])
    assert objective.loss(logits, labels) < 1e-6


def documents(n_docs=4000, sentences=(5, 40)):
    rng = random.Random(0)
    return [[[d, s] for s in range(rng.randint(*sentences))] for d in range(n_docs)]  # sentence = [doc, index]


def test_next_sentence_pairs_are_balanced_and_truthful():
    docs = documents()
    pairs = NextSentencePrediction().prepare(docs, random.Random(1))
    assert len(pairs) > 80_000  # a binomial share of 0.5 then has a standard deviation < 0.002
    labels = [label for _, _, label in pairs]
    assert abs(labels.count(IS_NEXT) / len(labels) - 0.5) < 0.01
    for a, b, label in pairs:
        if label == IS_NEXT:
            assert b == [a[0], a[1] + 1]
        else:
            assert b[0] != a[0], "a random B should come from another document"


def test_pairs_collate_as_cls_a_sep_b_sep():
    batch = NextSentencePrediction.collate([([7, 8, 9], [5], IS_NEXT), ([7] * 10, [6] * 3, NOT_NEXT)],
                                           cls_id=CLS, sep_id=SEP, pad_id=PAD, max_length=10)
    assert batch["input_ids"].tolist() == [[CLS, 7, 8, 9, SEP, 5, SEP, PAD, PAD, PAD],
                                           [CLS, 7, 7, 7, 7, SEP, 6, 6, 6, SEP]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 0, 0, 1, 1, 0, 0, 0], [0] * 6 + [1] * 4]
    assert batch["attention_mask"].sum(dim=1).tolist() == [7, 10]
    assert batch["next_sentence_label"].tolist() == [IS_NEXT, NOT_NEXT]
