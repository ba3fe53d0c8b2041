"""word2vec: Huffman codes, noise and subsampling tables, both training paths, checkpoints, errors."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest

from lmlineage.tokenizers.word import sentences_from_text
from lmlineage.classic.word2vec import (
    Word2Vec,
    Word2VecConfig,
    _rate,
    build_vocab,
    huffman_tree,
    keep_probabilities,
    negative_sampling_table,
    noise_distribution,
)
from lmlineage.core.errors import UserError

HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")


# ---------------------------------------------------------------------- tables
def test_huffman_codes_are_prefix_free_and_optimal():
    # CLRS's example (Sec. 16.3): an optimal code costs 224 bits per 100 characters
    counts = [45, 16, 13, 12, 9, 5]
    codes, points = huffman_tree(counts)
    strings = ["".join(map(str, c)) for c in codes]
    assert [len(s) for s in strings] == [1, 3, 3, 3, 4, 4]
    assert sum(c * len(s) for c, s in zip(counts, strings)) == 224
    for a, b in itertools.permutations(strings, 2):
        assert not b.startswith(a), (a, b)
    for code, path in zip(codes, points):
        assert len(code) == len(path)
        assert path[0] == len(counts) - 2  # every path starts at the root
        assert all(0 <= p <= len(counts) - 2 for p in path)


def test_huffman_inner_nodes_decide_consistently():
    # a node reached by two words sends them the same way up to where their paths part
    codes, points = huffman_tree([7, 5, 5, 3, 2, 1, 1])
    for (c1, p1), (c2, p2) in itertools.combinations(zip(codes, points), 2):
        shared = 0
        while shared < min(len(p1), len(p2)) and p1[shared] == p2[shared] and c1[shared] == c2[shared]:
            shared += 1
        if shared < min(len(p1), len(p2)):
            assert p1[shared] == p2[shared] and c1[shared] != c2[shared]


def test_noise_distribution_is_unigram_to_the_three_quarters():
    counts = np.array([1000, 300, 40, 7, 1])
    expected = counts**0.75 / (counts**0.75).sum()
    np.testing.assert_allclose(noise_distribution(counts), expected, rtol=1e-12)
    prob, alias = negative_sampling_table(counts)
    # the alias table encodes p exactly: column i gives prob[i] to i and the rest to alias[i]
    implied = prob.astype(np.float64).copy()
    np.add.at(implied, alias, 1.0 - prob)
    np.testing.assert_allclose(implied / len(counts), expected, atol=1e-7)


@needs_numba
def test_kernel_draws_follow_the_noise_distribution():
    from lmlineage.classic._w2v_kernels import draw_noise

    counts = np.array([500, 200, 100, 50, 10, 5, 1])
    prob, alias = negative_sampling_table(counts)
    draws = draw_noise(prob, alias, 400_000, 7)
    observed = np.bincount(draws, minlength=len(counts)) / len(draws)
    expected = noise_distribution(counts)
    sigma = np.sqrt(expected * (1 - expected) / len(draws))
    assert np.all(np.abs(observed - expected) < 5 * sigma), (observed, expected)


def test_keep_probability_formula():
    counts = np.array([1000, 100, 10, 1])
    keep = keep_probabilities(counts, sample=1e-3)
    st = 1e-3 * 1111  # threshold s times the total count
    hand = [(np.sqrt(f / st) + 1) * st / f for f in (1000, 100, 10)] + [1.0]  # f=1 gives 2.17: capped
    np.testing.assert_allclose(keep, hand, rtol=1e-6)
    assert keep[0] == pytest.approx(0.034443, rel=1e-4)  # (sqrt(1000 / 1.111) + 1) * 1.111 / 1000
    assert keep[2] == pytest.approx(0.444417, rel=1e-4)  # (sqrt(10 / 1.111) + 1) * 1.111 / 10
    np.testing.assert_array_equal(keep_probabilities(counts, sample=0), 1.0)


def test_learning_rate_decays_linearly():
    cfg = Word2VecConfig()
    assert _rate(cfg, 0, 100) == cfg.alpha
    assert _rate(cfg, 50, 100) == pytest.approx((cfg.alpha + cfg.min_alpha) / 2)
    assert _rate(cfg, 100, 100) == pytest.approx(cfg.min_alpha)


def test_vocabulary_sorted_by_count_with_min_count():
    words, counts = build_vocab([["b", "a", "c", "a"], ["b", "a", "d"]], min_count=2)
    assert words == ["a", "b"] and counts.tolist() == [3, 2]


def test_sentences_from_text():
    assert sentences_from_text("'Tis now struck twelve;\n\n  Don't GO!\n...\n") == [
        ["tis", "now", "struck", "twelve"],
        ["don't", "go"],
    ]


# ---------------------------------------------------------------------- learning
def planted_corpus(seed=0, topics=6, per_topic=8, sentences=2500, length=10):
    """Sentences each drawn from one topic's words: a word's neighbours should be its topic."""
    rng = np.random.default_rng(seed)
    vocab = [[f"t{t}w{i}" for i in range(per_topic)] for t in range(topics)]
    corpus = []
    for _ in range(sentences):
        topic = vocab[rng.integers(topics)]
        corpus.append([topic[i] for i in rng.integers(per_topic, size=length)])
    return corpus


def neighbour_purity(model: Word2Vec, topn=5) -> float:
    vectors = model.vectors
    hits = [
        sum(other.split("w")[0] == word.split("w")[0] for other, _ in vectors.most_similar(word, topn=topn)) / topn
        for word in vectors.words
    ]
    return float(np.mean(hits))


CASES = [
    pytest.param("skipgram", False, id="skipgram-negative"),
    pytest.param("skipgram", True, id="skipgram-hs"),
    pytest.param("cbow", False, id="cbow-negative"),
    pytest.param("cbow", True, id="cbow-hs"),
]


@needs_numba
@pytest.mark.parametrize("arch,hs", CASES)
def test_numba_path_recovers_planted_neighbours(arch, hs):
    model = Word2Vec.train(
        planted_corpus(), arch=arch, hs=hs, negative=0 if hs else 5, dim=24, min_count=1, epochs=5,
        sample=0, progress=False, workers=2,
    )
    assert model.stats.backend == "numba"
    assert neighbour_purity(model) > 0.9


@pytest.mark.parametrize("arch,hs", CASES)
def test_torch_path_recovers_planted_neighbours(arch, hs):
    # one torch thread: on a loaded 2-core machine more threads spin instead of helping
    model = Word2Vec.train(
        planted_corpus(sentences=1200), arch=arch, hs=hs, negative=0 if hs else 5, dim=24, min_count=1,
        epochs=3, sample=0, progress=False, backend="torch", workers=1,
    )
    assert model.stats.backend == "torch"
    assert neighbour_purity(model) > 0.9


@needs_numba
def test_numba_and_torch_paths_agree_on_quality():
    corpus = planted_corpus(seed=3, topics=10, per_topic=10, sentences=3000)
    purity = {}
    for backend in ("numba", "torch"):
        model = Word2Vec.train(
            corpus, dim=24, min_count=1, epochs=3, progress=False, backend=backend, seed=2, workers=1
        )
        purity[backend] = neighbour_purity(model)
    assert min(purity.values()) > 0.85, purity
    assert abs(purity["numba"] - purity["torch"]) < 0.1, purity


@needs_numba
def test_subsampling_keeps_the_expected_share():
    rng = np.random.default_rng(0)
    words = ["the"] * 50 + [f"w{i}" for i in range(50)]  # one very frequent word
    corpus = [list(rng.choice(words, size=20)) for _ in range(3000)]
    model = Word2Vec.train(corpus, min_count=1, epochs=1, sample=1e-2, dim=8, progress=False, workers=1)
    keep = keep_probabilities(model.counts, 1e-2)
    expected = float((model.counts * keep).sum())
    assert model.stats.effective_words == pytest.approx(expected, rel=0.02)
    assert model.stats.raw_words == 60_000


@needs_numba
def test_single_worker_training_is_deterministic():
    corpus = planted_corpus(sentences=300)
    a = Word2Vec.train(corpus, min_count=1, epochs=1, dim=8, workers=1, progress=False, seed=5)
    b = Word2Vec.train(corpus, min_count=1, epochs=1, dim=8, workers=1, progress=False, seed=5)
    c = Word2Vec.train(corpus, min_count=1, epochs=1, dim=8, workers=1, progress=False, seed=6)
    np.testing.assert_array_equal(a.syn0, b.syn0)
    assert not np.array_equal(a.syn0, c.syn0)


# ---------------------------------------------------------------------- checkpoints
def test_save_load_round_trip_and_resume(tmp_path):
    corpus = planted_corpus(sentences=300)
    model = Word2Vec.train(corpus, min_count=1, epochs=1, dim=8, hs=True, progress=False, backend="torch", workers=1)
    model.save(tmp_path / "w2v")
    assert sorted(p.name for p in (tmp_path / "w2v").iterdir()) == ["config.json", "model.safetensors"]
    loaded = Word2Vec.load(tmp_path / "w2v")
    assert loaded.words == model.words and loaded.config == model.config
    for name in ("syn0", "syn1neg", "syn1"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    before = loaded.syn0.copy()
    loaded.train_more(corpus, epochs=1, progress=False, backend="numba" if HAS_NUMBA else "torch", workers=1)
    assert not np.array_equal(before, loaded.syn0)


def test_load_rejects_what_is_not_a_checkpoint(tmp_path):
    with pytest.raises(UserError, match="not a word2vec checkpoint"):
        Word2Vec.load(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "something else"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match="not a word2vec checkpoint"):
        Word2Vec.load(tmp_path)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "sentences,options,message",
    [
        ("just a string", {}, "list of sentences"),
        (["a b c", "d e f"], {}, "not a list of words"),
        ([["a", "b"]], {"min_count": 5}, "min_count"),
        ([["a", "b"]] * 5, {"arch": "glove"}, "unknown word2vec arch"),
        ([["a", "b"]] * 5, {"negative": 0, "hs": False}, "output layer"),
        ([["a", "b"]] * 5, {"dim": 0}, "dim"),
        ([["a", "b"]] * 5, {"alpha": -1.0}, "learning rates"),
        ([["a", "b"]] * 5, {"backend": "jax"}, "backend"),
        ([["a", "b"]] * 5, {"backend": "numba", "device": "cuda"}, "numba backend"),
        ([["a", 3]] * 5, {}, "non-empty strings"),
    ],
)
def test_bad_input_raises_user_error(sentences, options, message):
    with pytest.raises(UserError, match=message):
        Word2Vec.train(sentences, progress=False, **{"min_count": 1, **options})


@needs_numba
@pytest.mark.parametrize("hs,negative", [(True, 0), (False, 3), (True, 2)])
def test_compiled_output_layer_equals_a_plain_reference(hs, negative):
    """The numba kernel's update for one (input, target) pair equals the update written out
    in numpy: for each unit in turn, g = (label - sigma(l1 . out)) * alpha, work += g * out,
    out += g * l1 (Mikolov et al. 2013; word2vec.c's order). Negative samples are replayed from
    the kernel's own generator so both sides see the same noise words."""
    from lmlineage.classic._w2v_kernels import _noise_word, _output_layer, sigmoid_table

    rng = np.random.default_rng(3)
    dim, vocab = 16, 6
    counts = np.array([40, 25, 12, 9, 5, 2])
    prob, alias = negative_sampling_table(counts)
    codes = np.array([[0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1], [1, 0, 1]], dtype=np.uint8)
    points = rng.integers(0, vocab - 1, size=(vocab, 3)).astype(np.int64)
    lengths = np.array([3, 2, 3, 1, 2, 3], dtype=np.int64)
    l1 = (rng.normal(size=(vocab, dim)) * 0.5).astype(np.float32)
    syn1 = (rng.normal(size=(vocab, dim)) * 0.5).astype(np.float32)
    syn1neg = (rng.normal(size=(vocab, dim)) * 0.5).astype(np.float32)
    table = sigmoid_table()
    alpha, row, target, state = np.float32(0.05), 1, 4, np.uint64(12345)

    def sigma(f):  # the kernel's table lookup, saturating at |f| >= 6
        return 0.0 if f <= -6 else 1.0 if f >= 6 else float(table[int((f + 6.0) * len(table) / 12.0)])

    ref_work, ref_syn1, ref_neg = np.zeros(dim, np.float64), syn1.astype(np.float64), syn1neg.astype(np.float64)
    units = []
    if hs:
        units += [(ref_syn1, points[target, d], 1.0 - codes[target, d]) for d in range(lengths[target])]
    s = state
    for d in range(negative + 1 if negative else 0):
        if d == 0:
            units.append((ref_neg, target, 1.0))
            continue
        sample, s = _noise_word(s, prob, alias)
        s = np.uint64(s)  # numba hands the state back as a Python int
        if sample != target:
            units.append((ref_neg, sample, 0.0))
    for out, out_row, label in units:
        g = (label - sigma(float(l1[row] @ out[out_row]))) * alpha
        ref_work += g * out[out_row]
        out[out_row] += g * l1[row]

    work = np.zeros(dim, np.float32)
    _output_layer(l1, row, target, work, syn1neg, syn1, prob, alias, codes, points, lengths,
                  hs, negative, dim, alpha, table, state)
    np.testing.assert_allclose(work, ref_work, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, ref_syn1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1neg, ref_neg, rtol=1e-5, atol=1e-6)
