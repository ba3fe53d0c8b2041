"""BART's five noises (Lewis et al. 2019, section 2.2): what each does, and the statistics the
paper states for text infilling (span lengths ~ Poisson(3), 30% of tokens)."""

import itertools

import torch

from lmlineage.objectives.bart_noise import (BartDenoising, Compose, DocumentRotation, SentencePermutation,
                                             TextInfilling, TokenDeletion, TokenMasking)
from lmlineage.objectives.seq2seq import PAD

MASK = 1


def doc(n=40):
    return torch.arange(10, 10 + n)


def test_token_masking_and_deletion():
    g = torch.Generator().manual_seed(0)
    out = TokenMasking(MASK, 0.25)(doc(), g)
    assert out.shape == (40,) and (out == MASK).sum() == 10
    assert torch.equal(out[out != MASK], doc()[out != MASK])  # everything else in place
    out = TokenDeletion(0.25)(doc(), g)
    assert len(out) == 30 and bool((out[1:] > out[:-1]).all())  # an ordered subsequence


def test_text_infilling_replaces_each_span_by_one_mask():
    g = torch.Generator().manual_seed(3)
    noise = TextInfilling(MASK, 0.3)
    lengths, gaps = noise.spans(40, torch.Generator().manual_seed(3))
    out = noise(doc(), g)
    assert (out == MASK).sum() == len(lengths) and sum(lengths) == 12 and sum(gaps) == 28
    kept = out[out != MASK]
    assert bool((kept[1:] > kept[:-1]).all()) and len(kept) == 28
    # Rebuild: each mask stands for its span's tokens, zero-length spans for none.
    expected, at = [], 0
    for length, gap in zip(lengths, gaps):
        expected += list(range(10 + at, 10 + at + gap)) + [MASK]
        at += gap + length
    expected += list(range(10 + at, 50))
    assert out.tolist() == expected


def test_text_infilling_statistics():
    """Over many documents: 30% of tokens hidden (within a point) and the spans' mean length
    3 (within 5%), both read from the outputs alone (distinct token ids)."""
    g = torch.Generator().manual_seed(0)
    noise = TextInfilling(MASK, 0.3)
    hidden = masks = total = zero_length = 0
    for _ in range(400):
        n = int(torch.randint(100, 400, (1,), generator=g))
        out = noise(doc(n), g)
        hidden += n - int((out != MASK).sum())
        masks += int((out == MASK).sum())
        total += n
        kept = out.tolist()
        # a mask between two consecutive original tokens hides nothing: a zero-length span
        zero_length += sum(1 for a, m, b in zip(kept, kept[1:], kept[2:]) if m == MASK and a != MASK and
                           b != MASK and b == a + 1)
    assert abs(hidden / total - 0.30) < 0.01
    assert abs(hidden / masks - 3.0) < 0.15
    assert zero_length > 0  # Poisson(3) gives length 0 about 5% of the time: inserted masks
    assert abs(zero_length / masks - torch.exp(torch.tensor(-3.0)).item()) < 0.02


def test_sentence_permutation_and_rotation():
    ids = torch.tensor([5, 6, 0, 7, 0, 8, 9, 10, 0, 11])  # 0: full stop
    noise = SentencePermutation([0])
    assert [s.tolist() for s in noise.sentences(ids)] == [[5, 6, 0], [7, 0], [8, 9, 10, 0], [11]]
    orders = {sum(p, ()) for p in itertools.permutations(tuple(s.tolist()) for s in noise.sentences(ids))}
    seen = set()
    for seed in range(30):
        out = tuple(noise(ids, torch.Generator().manual_seed(seed)).tolist())
        assert out in orders  # whole sentences, reordered
        seen.add(out)
    assert len(seen) > 10  # 24 orders, most of them reached
    starts = {DocumentRotation()(doc(8), torch.Generator().manual_seed(s))[0].item() for s in range(60)}
    assert starts == set(range(10, 18))  # every token can lead
    out = DocumentRotation()(doc(8), torch.Generator().manual_seed(1))
    assert torch.equal(torch.roll(out, int(out[0]) - 10), doc(8))


def test_composed_denoising_batch():
    noise = Compose(SentencePermutation([0]), TextInfilling(MASK, 0.3))
    documents = [torch.tensor([5, 6, 0, 7, 8, 0, 9, 0, 12, 13]), torch.tensor([4, 4, 0, 3])]
    source, target = BartDenoising(noise).prepare(documents, torch.Generator().manual_seed(0))
    assert target[1].tolist() == [4, 4, 0, 3] + [PAD] * 6 and target[0].tolist() == documents[0].tolist()
    assert (source[0] == MASK).any() and ((source[0] != MASK) & (source[0] != PAD)).sum() == 7
