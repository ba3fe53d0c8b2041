"""Statistical n-gram LM: counting, smoothing, parity with NLTK and KenLM, files."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmlineage.classic.ngram import NGramLM, TextScore, sentences_from_text
from lmlineage.classic.ngram_counts import (
    count_ngrams,
    ngram_words,
    pad_flat,
    positions_from_start,
    sort_with_positions,
    tokens_to_end,
)
from lmlineage.classic.ngram_smoothing import katz_discount_ratios, mkn_discounts
from lmlineage.core.errors import UserError

SHAKESPEARE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tinyshakespeare.txt"
METHODS = ("mle", "addk", "kn", "mkn", "katz")
TINY = [["a", "b"], ["a", "c"], ["b"]]


def synthetic_corpus(n_sentences: int, vocab: int = 30, seed: int = 0) -> list[list[str]]:
    """Sentences from a random sparse Markov chain over Zipf-weighted words."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocab + 1)
    follow = rng.random((vocab, vocab)) < 0.25
    out = []
    for _ in range(n_sentences):
        length = int(rng.integers(1, 12))
        w = int(rng.choice(vocab, p=weights / weights.sum()))
        sent = [f"w{w}"]
        for _ in range(length - 1):
            p = weights * follow[w] + 1e-3 * weights
            w = int(rng.choice(vocab, p=p / p.sum()))
            sent.append(f"w{w}")
        out.append(sent)
    return out


@pytest.fixture(scope="module")
def corpus():
    sents = synthetic_corpus(400)
    return sents[:320], sents[320:]


def shakespeare(lines: int, offset: int = 0):
    if not SHAKESPEARE.is_file():
        pytest.skip(f"{SHAKESPEARE} is absent")
    sents = sentences_from_text(SHAKESPEARE.read_text(encoding="utf-8"), lowercase=True)
    return sents[offset : offset + lines]


# ----------------------------------------------------------------------------- counting


def brute_force_counts(sents, order, n_pad):
    counts = Counter()
    for s in sents:
        padded = ["<s>"] * n_pad + s + ["</s>"] * n_pad
        for m in range(1, order + 1):
            for i in range(len(padded) - m + 1):
                counts[tuple(padded[i : i + m])] += 1
    return counts


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("n_pad_kind", ["single", "nltk"])
def test_vectorised_counts_equal_brute_force(order, n_pad_kind):
    sents = synthetic_corpus(60, vocab=8, seed=order) + [[]]
    vocab = ["<unk>", "<s>", "</s>"] + sorted({w for s in sents for w in s})
    wid = {w: i for i, w in enumerate(vocab)}
    ids = np.array([wid[w] for s in sents for w in s], dtype=np.int32)
    lengths = np.array([len(s) for s in sents])
    n_pad = 1 if n_pad_kind == "single" else max(order - 1, 0)
    padded, starts = pad_flat(ids, lengths, n_pad, n_pad)
    tables = count_ngrams(padded, tokens_to_end(starts, padded.size), len(vocab), order)
    mats = ngram_words([t.keys for t in tables], len(vocab))
    got = Counter()
    for t, mat in zip(tables, mats):
        for row, c in zip(mat.tolist(), t.counts.tolist()):
            if c:
                got[tuple(vocab[i] for i in row)] = c
    assert got == brute_force_counts(sents, order, n_pad)
    for m in range(1, order):  # every stored suffix row really is the suffix
        suffix_words = mats[m - 1][tables[m].suffix]
        assert np.array_equal(suffix_words, mats[m][:, 1:])
        assert np.array_equal(mats[m - 1][tables[m].prefix], mats[m][:, :-1])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3000), bits=st.sampled_from([1, 8, 30, 45, 50, 53, 60, 62]), seed=st.integers(0, 2**32 - 1))
def test_sort_with_positions_is_a_stable_argsort(n, bits, seed):
    # the widths cover: packed directly, split into buckets, and the argsort fallback
    keys = np.random.default_rng(seed).integers(0, 2**bits, n, dtype=np.int64)
    perm, sorted_keys = sort_with_positions(keys)
    expected = np.argsort(keys, kind="stable")
    np.testing.assert_array_equal(perm, expected)
    np.testing.assert_array_equal(sorted_keys, keys[expected])


def test_padding_and_position_helpers():
    ids = np.array([5, 6, 7, 8], dtype=np.int32)
    padded, starts = pad_flat(ids, np.array([2, 0, 2]), 2, 1)
    assert padded.tolist() == [1, 1, 5, 6, 2, 1, 1, 2, 1, 1, 7, 8, 2]
    assert starts.tolist() == [0, 5, 8]
    assert tokens_to_end(starts, padded.size).tolist() == [5, 4, 3, 2, 1, 3, 2, 1, 5, 4, 3, 2, 1]
    assert positions_from_start(starts, padded.size).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 4]


# ----------------------------------------------------------------------------- sums to 1


def contexts_for(lm: NGramLM, train, test):
    """Seen, unseen, out-of-vocabulary and sentence-start contexts of every length."""
    ctxs = [[], ["<s>"], ["<s>", "<s>"], ["<s>", "<s>", "<s>"], ["zzz"], ["zzz", "yyy"], ["<unk>"]]
    for s in train[:6] + test[:6]:
        for L in range(1, 4):
            ctxs.append(s[:L])
            ctxs.append(["<s>"] + s[: L - 1])
            ctxs.append(s[-L:][::-1])  # reversed: mostly unseen
    return ctxs


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("padding", ["single", "nltk"])
def test_distribution_sums_to_one(corpus, method, order, padding):
    if method == "kn" and padding == "nltk":
        pytest.skip("NLTK's own KN does not sum to 1 after <s> <s>; see test_nltk_kn_oversum_is_nltks")
    train, test = corpus
    lm = NGramLM.fit(train, order=order, method=method, padding=padding, min_count=2)
    for ctx in contexts_for(lm, train, test):
        p = lm.prob_distribution(ctx)
        assert p.shape == (lm.vocab_size,)
        assert (p >= 0).all()
        assert p.sum() == pytest.approx(1.0, abs=1e-12), (ctx, p.sum())
        if padding == "single":
            assert p[lm.word_id["<s>"]] == 0.0


@settings(max_examples=25, deadline=None)
@given(
    sents=st.lists(st.lists(st.sampled_from("abcde"), min_size=0, max_size=7), min_size=1, max_size=8),
    order=st.integers(1, 4),
    method=st.sampled_from(METHODS),
)
def test_distribution_sums_to_one_on_random_corpora(sents, order, method):
    if not any(sents):
        sents = sents + [["a"]]
    lm = NGramLM.fit(sents, order=order, method=method)
    for ctx in [[], ["<s>"], ["a"], ["<s>", "a", "b"], ["e", "e", "e"], ["b", "a"]]:
        assert lm.prob_distribution(ctx).sum() == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------- hand-computed values


def test_mle_hand_values():
    lm = NGramLM.fit(TINY, order=2, method="mle")
    # bigrams: <s> a x2, <s> b, a b, a c, b </s> x2, c </s>; unigrams (no <s>): 8 tokens
    assert lm.logprob("a", ["<s>"]) == pytest.approx(math.log(2 / 3))
    assert lm.logprob("b", ["a"]) == pytest.approx(math.log(1 / 2))
    assert lm.logprob("</s>", ["b"]) == pytest.approx(0.0)
    assert lm.logprob("c", ["b"]) == -math.inf
    assert lm.logprob("</s>", ["zzz"]) == pytest.approx(math.log(3 / 8))  # unseen context: unigram
    assert lm.logprob("</s>") == pytest.approx(math.log(3 / 8))


def test_addk_hand_values():
    lm = NGramLM.fit(TINY, order=2, method="laplace")  # 5 predictable words: <unk> </s> a b c
    assert lm.logprob("a", ["<s>"]) == pytest.approx(math.log(3 / 8))
    assert lm.logprob("c", ["b"]) == pytest.approx(math.log(1 / 7))
    assert lm.logprob("a", ["zzz"]) == pytest.approx(math.log(1 / 5))  # unseen context: uniform
    assert lm.logprob("a") == pytest.approx(math.log(3 / 13))
    lm = NGramLM.fit(TINY, order=2, method="addk", k=0.5)
    assert lm.logprob("a", ["<s>"]) == pytest.approx(math.log(2.5 / 5.5))


def test_kneser_ney_hand_values():
    lm = NGramLM.fit(TINY, order=2, method="kn", discount=0.75)
    # continuation counts N1+(. w): a 1, b 2, c 1, </s> 2, <unk> 0 (total 6); gamma_1 = 0.75*4/6
    d, v = Fraction(3, 4), 5
    p1 = {w: (max(Fraction(c) - d, 0) / 6 + Fraction(1, 2) / v) for w, c in [("a", 1), ("b", 2), ("c", 1), ("</s>", 2), ("<unk>", 0)]}
    assert sum(p1.values()) == 1
    for w, p in p1.items():
        assert lm.logprob(w) == pytest.approx(math.log(p))
    # context <s>: a 2, b 1 (total 3, 2 types) -> gamma = 0.75*2/3
    assert lm.logprob("a", ["<s>"]) == pytest.approx(math.log((2 - d) / 3 + Fraction(1, 2) * p1["a"]))
    assert lm.logprob("c", ["<s>"]) == pytest.approx(math.log(Fraction(1, 2) * p1["c"]))
    # context a: b 1, c 1 -> gamma = 0.75
    assert lm.logprob("b", ["a"]) == pytest.approx(math.log((1 - d) / 2 + d * p1["b"]))


def test_mkn_discounts_from_count_of_counts():
    adjusted = np.array([1] * 10 + [2] * 5 + [3] * 3 + [4] * 2 + [9])
    (d1, d2, d3), estimated = mkn_discounts(adjusted)
    # Y = 10 / (10 + 2*5) = 0.5; D1 = 1 - 2Y n2/n1; D2 = 2 - 3Y n3/n2; D3 = 3 - 4Y n4/n3
    assert estimated
    assert (d1, d2, d3) == pytest.approx((0.5, 1.1, 3 - 4 * 0.5 * 2 / 3))
    assert mkn_discounts(np.array([1, 1, 2])) == ((0.5, 1.0, 1.5), False)  # n3 = n4 = 0: fallback


def test_katz_good_turing_ratios():
    n = {1: 100, 2: 30, 3: 15, 4: 8, 5: 5, 6: 3}
    counts = np.repeat(list(n), list(n.values()))
    ratios, label, k = katz_discount_ratios(counts)
    a = 6 * n[6] / n[1]  # (K+1) n_{K+1} / n_1 with K = 5
    for r in range(1, 6):
        expected = ((r + 1) * n[r + 1] / (r * n[r]) - a) / (1 - a)
        assert ratios[r] == pytest.approx(expected)
    assert ratios[6] == 1.0 and label == "good-turing" and k == 5
    # n5 small makes d_5 > 1: K shrinks to 4
    n = {1: 100, 2: 30, 3: 15, 4: 8, 5: 2, 6: 5}
    ratios, label, k = katz_discount_ratios(np.repeat(list(n), list(n.values())))
    a = 5 * n[5] / n[1]
    assert k == 4 and ratios[5] == 1.0
    assert ratios[4] == pytest.approx((5 * n[5] / (4 * n[4]) - a) / (1 - a))
    ratios, label, _ = katz_discount_ratios(np.array([1, 1, 1]))  # no n2: absolute fallback
    assert label.startswith("absolute") and 0 < ratios[1] < 1


# ----------------------------------------------------------------------------- NLTK parity


def nltk_kn(train, order, discount, cutoff=1):
    lm_mod = pytest.importorskip("nltk.lm")
    from nltk.lm.preprocessing import padded_everygram_pipeline

    lm = lm_mod.KneserNeyInterpolated(order, discount=discount, vocabulary=lm_mod.Vocabulary(unk_cutoff=cutoff))
    grams, words = padded_everygram_pipeline(order, train)
    lm.fit(grams, words)
    return lm


def nltk_test_ngrams(sents, order):
    from nltk.lm.preprocessing import pad_both_ends
    from nltk.util import ngrams

    return [g for s in sents for g in ngrams(pad_both_ends(s, n=order), order)]


@pytest.mark.parametrize("order", [2, 3, 4])
@pytest.mark.parametrize("discount", [0.1, 0.75])
def test_kn_matches_nltk_on_synthetic_corpus(corpus, order, discount):
    train, test = corpus
    ref = nltk_kn(train, order, discount)
    test = [s for s in test if all(w in ref.vocab for w in s)][:15]
    ours = NGramLM.fit(train, order=order, method="kn", discount=discount, padding="nltk")
    grams = nltk_test_ngrams(test, order)
    assert ours.perplexity(test) == pytest.approx(ref.perplexity(grams), rel=1e-9)
    token_lp = ours.token_logprobs(test)
    expected = np.array([ref.logscore(g[-1], g[:-1]) for g in grams]) * math.log(2)
    np.testing.assert_allclose(token_lp, expected, rtol=1e-9, atol=1e-12)


def test_kn_matches_nltk_on_shakespeare_with_unk_cutoff():
    sents = shakespeare(500)
    train, test = sents[:400], sents[400:]
    ref = nltk_kn(train, 3, 0.75, cutoff=2)
    test = [s for s in test if all(w in ref.vocab for w in s)][:20]
    ours = NGramLM.fit(train, order=3, method="kn", discount=0.75, padding="nltk", min_count=2)
    assert len(test) >= 5
    assert ours.perplexity(test) == pytest.approx(ref.perplexity(nltk_test_ngrams(test, 3)), rel=1e-6)


def test_kn_matches_nltk_with_oov_words():
    sents = synthetic_corpus(300, vocab=60, seed=1)
    train, test = sents[:200], sents[200:240] + [["zzz", "w1"], ["w2", "qqq", "w3"]]
    grams = nltk_test_ngrams(test, 3)
    for cutoff in (2, 3):  # rare training words become <unk>, so OOV words have a probability
        ref = nltk_kn(train, 3, 0.75, cutoff=cutoff)
        ours = NGramLM.fit(train, order=3, method="kn", discount=0.75, padding="nltk", min_count=cutoff)
        assert ours.score_sentences(test).oov >= 2
        assert ours.perplexity(test) == pytest.approx(ref.perplexity(grams), rel=1e-9)
    # no <unk> in training: NLTK's continuation unigram gives it 0, hence infinite perplexity; ours too
    ref = nltk_kn(train, 3, 0.75, cutoff=1)
    ours = NGramLM.fit(train, order=3, method="kn", discount=0.75, padding="nltk")
    assert ref.perplexity(grams) == ours.perplexity(test) == math.inf
    # the default (single) padding floors the unigram level with the uniform distribution instead
    assert math.isfinite(NGramLM.fit(train, order=3, method="kn").perplexity(test))


def test_nltk_kn_oversum_is_nltks(corpus):
    """NLTK's KN distribution after <s> <s> sums to more than 1; ours reproduces the sum."""
    train, _ = corpus
    ref = nltk_kn(train[:60], 3, 0.75)
    ours = NGramLM.fit(train[:60], order=3, method="kn", discount=0.75, padding="nltk")
    for ctx in [("<s>", "<s>"), ("<s>", "w0"), ("w1", "w0")]:
        theirs = sum(ref.score(w, ctx) for w in ref.vocab)
        assert ours.prob_distribution(list(ctx)).sum() == pytest.approx(theirs, rel=1e-12)
    assert ours.prob_distribution(["<s>", "<s>"]).sum() > 1.0


def test_addk_and_mle_match_nltk(corpus):
    nltk_lm = pytest.importorskip("nltk.lm")
    from nltk.lm.preprocessing import padded_everygram_pipeline

    train, test = corpus
    ref = nltk_lm.Lidstone(0.3, 3)
    ref.fit(*padded_everygram_pipeline(3, train))
    ours = NGramLM.fit(train, order=3, method="addk", k=0.3, padding="nltk")
    grams = nltk_test_ngrams(test[:20], 3)  # OOV words and unseen contexts included
    expected = np.array([ref.logscore(g[-1], g[:-1]) for g in grams]) * math.log(2)
    np.testing.assert_allclose(ours.token_logprobs(test[:20]), expected, rtol=1e-10)

    ref = nltk_lm.MLE(3)
    ref.fit(*padded_everygram_pipeline(3, train))
    ours = NGramLM.fit(train, order=3, method="mle", padding="nltk")
    grams = nltk_test_ngrams(train[:20], 3)  # seen contexts: MLE agrees
    expected = np.array([ref.logscore(g[-1], g[:-1]) for g in grams]) * math.log(2)
    np.testing.assert_allclose(ours.token_logprobs(train[:20]), expected, rtol=1e-10)


# ----------------------------------------------------------------------------- ARPA and KenLM


def kenlm_log10_total(arpa_path, sents):
    kenlm = pytest.importorskip("kenlm", reason="the kenlm package is not installed (pip install kenlm builds it from source)")
    model = kenlm.Model(str(arpa_path))
    return sum(model.score(" ".join(s), bos=True, eos=True) for s in sents)


@pytest.mark.parametrize("method", ["kn", "mkn", "katz"])
@pytest.mark.parametrize("order", [2, 3, 4])  # KenLM refuses unigram models
def test_kenlm_scores_our_arpa_like_we_do(corpus, tmp_path, method, order):
    train, test = corpus
    test = test + [["zzz", "w1", "w2", "qqq"], ["yyy"]]  # OOV words score as <unk> in both
    lm = NGramLM.fit(train, order=order, method=method, min_count=2)
    lm.to_arpa(tmp_path / "lm.arpa")
    ours = lm.score_sentences(test)
    theirs = kenlm_log10_total(tmp_path / "lm.arpa", test) * math.log(10)
    assert ours.oov > 0
    assert math.exp(-theirs / ours.tokens) == pytest.approx(ours.perplexity, rel=1e-4)


def test_kenlm_parity_on_shakespeare(tmp_path):
    sents = shakespeare(1500)
    train, test = sents[:1200], sents[1200:]
    for method in ("kn", "mkn", "katz"):
        lm = NGramLM.fit(train, order=3, method=method)
        lm.to_arpa(tmp_path / f"{method}.arpa")
        ours = lm.score_sentences(test)
        theirs = kenlm_log10_total(tmp_path / f"{method}.arpa", test) * math.log(10)
        assert math.exp(-theirs / ours.tokens) == pytest.approx(ours.perplexity, rel=1e-4)


@pytest.mark.parametrize("method", ["mle", "kn", "mkn", "katz"])
def test_arpa_export_import_round_trip(corpus, tmp_path, method):
    train, test = corpus
    lm = NGramLM.fit(train, order=3, method=method)
    lm.to_arpa(tmp_path / "lm.arpa")
    back = NGramLM.from_arpa(tmp_path / "lm.arpa")
    assert back.vocab == lm.vocab and back.ngram_counts == lm.ngram_counts
    if method == "mle":  # zero probabilities come back as 10^-99, not 0
        np.testing.assert_allclose(back.token_logprobs(train[:30]), lm.token_logprobs(train[:30]), rtol=1e-8)
    else:
        assert back.perplexity(test) == pytest.approx(lm.perplexity(test), rel=1e-6)
        np.testing.assert_allclose(back.prob_distribution(["w1"]), lm.prob_distribution(["w1"]), rtol=1e-7)
    back.to_arpa(tmp_path / "again.arpa")
    assert (tmp_path / "again.arpa").read_text() == (tmp_path / "lm.arpa").read_text()


def test_arpa_export_refuses_non_backoff_models(corpus, tmp_path):
    train, _ = corpus
    with pytest.raises(UserError, match="add-k"):
        NGramLM.fit(train, order=2, method="addk").to_arpa(tmp_path / "x.arpa")
    with pytest.raises(UserError, match="padding"):
        NGramLM.fit(train, order=2, method="kn", padding="nltk").to_arpa(tmp_path / "x.arpa")


GOOD_ARPA = """\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.3
-0.5\t</s>
-0.6\ta\t-0.2

\\2-grams:
-0.2\t<s> a
-0.1\ta </s>

\\end\\
"""


def test_read_small_arpa(tmp_path):
    path = tmp_path / "lm.arpa"
    path.write_text("a comment before the data\n" + GOOD_ARPA)
    lm = NGramLM.from_arpa(path)
    assert lm.order == 2 and lm.vocab == ["<unk>", "<s>", "</s>", "a"]
    ln10 = math.log(10)
    assert lm.logprob("a", ["<s>"]) == pytest.approx(-0.2 * ln10)
    assert lm.logprob("</s>", ["<s>"]) == pytest.approx((-0.3 - 0.5) * ln10)
    assert lm.logprob("a", ["a"]) == pytest.approx((-0.2 - 0.6) * ln10)
    assert lm.score_sentences([["a"]]).log_prob == pytest.approx((-0.2 - 0.1) * ln10)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("\\data\\\n", "", "no \\\\data\\\\"),
        ("ngram 2=2", "ngram two=2", ":3: expected 'ngram N=COUNT'"),
        ("-0.6\ta\t-0.2", "-0.6\ta\t-0.2\textra", ":9: a 1-gram line needs"),
        ("-0.2\t<s> a", "x0.2\t<s> a", ":12: 'x0.2' is not a number"),
        ("-0.1\ta </s>", "-0.1\tb </s>", ":13: word 'b' is not among the 1-grams"),
        ("-0.1\ta </s>", "-0.1\t<s> a", ":13: this 2-gram is listed twice"),
        ("ngram 1=4", "ngram 1=5", "ngram 1=5 but the \\\\1-grams: section has 4 lines"),
        ("\\end\\\n", "", "without \\\\end\\\\"),
        ("-99\t<s>\t-0.3", "-99\t<S>\t-0.3", "the 1-grams have no <s>"),
    ],
)
def test_malformed_arpa_names_the_line(tmp_path, old, new, message):
    text = GOOD_ARPA.replace(old, new, 1)
    assert text != GOOD_ARPA
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(")) as err:
        NGramLM.from_arpa(path)
    assert str(path) in str(err.value)


def test_arpa_ngram_without_its_context(tmp_path):
    text = GOOD_ARPA.replace("ngram 2=2\n", "ngram 2=2\nngram 3=1\n").replace(
        "\\end\\", "\\3-grams:\n-0.1\ta a </s>\n\n\\end\\"
    )
    (tmp_path / "lm.arpa").write_text(text)
    with pytest.raises(UserError, match=":17: the context 'a a' of this 3-gram is not listed among the 2-grams"):
        NGramLM.from_arpa(tmp_path / "lm.arpa")


def test_missing_arpa_file(tmp_path):
    with pytest.raises(UserError, match="no ARPA file"):
        NGramLM.from_arpa(tmp_path / "nope.arpa")


# ----------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("padding", ["single", "nltk"])
def test_save_load_round_trip(corpus, tmp_path, method, padding):
    train, test = corpus
    lm = NGramLM.fit(train, order=3, method=method, padding=padding, min_count=2)
    lm.save(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "tables.safetensors", "vocab.json"]
    back = NGramLM.load(tmp_path / "ckpt")
    assert (back.order, back.method, back.padding, back.vocab) == (lm.order, lm.method, lm.padding, lm.vocab)
    np.testing.assert_array_equal(back.token_logprobs(test), lm.token_logprobs(test))
    assert back.sample(3, seed=1) == lm.sample(3, seed=1)


def test_load_rejects_non_checkpoints(tmp_path):
    with pytest.raises(UserError, match="config.json is missing"):
        NGramLM.load(tmp_path)
    NGramLM.fit(TINY, order=2, method="kn").save(tmp_path / "ok")
    (tmp_path / "ok" / "config.json").write_text('{"format": "other"}')
    with pytest.raises(UserError, match="not an n-gram checkpoint"):
        NGramLM.load(tmp_path / "ok")


# ----------------------------------------------------------------------------- API consistency


@pytest.mark.parametrize("method", METHODS)
def test_logprob_distribution_and_vectorised_scores_agree(corpus, method):
    train, test = corpus
    lm = NGramLM.fit(train, order=3, method=method, min_count=2)
    sent = test[0]
    padded = ["<s>"] + sent + ["</s>"]
    token_lp = lm.token_logprobs([sent])
    for i in range(1, len(padded)):
        ctx, word = padded[max(0, i - 2) : i], padded[i]
        lp = lm.logprob(word, ctx)
        assert lp == pytest.approx(token_lp[i - 1], abs=1e-12)
        wid = lm.word_id.get(word, 0)
        with np.errstate(divide="ignore"):
            assert np.log(lm.prob_distribution(ctx)[wid]) == pytest.approx(lp, abs=1e-12)


def test_score_fields_and_bits_per_char(corpus):
    train, test = corpus
    lm = NGramLM.fit(train, order=3, method="mkn")
    score = lm.score_sentences(test)
    assert isinstance(score, TextScore)
    assert score.tokens == sum(len(s) + 1 for s in test)
    assert score.chars == sum(len(" ".join(s)) + 1 for s in test)
    assert score.perplexity == pytest.approx(lm.perplexity(test))
    assert score.bits_per_char == pytest.approx(-score.log_prob / math.log(2) / score.chars)
    text = "\n".join(" ".join(s) for s in test) + "\n"
    assert lm.score_text(text, lowercase=False) == score._replace(chars=len(text))
    nltk_style = NGramLM.fit(train, order=3, method="kn", padding="nltk").score_sentences(test)
    assert nltk_style.tokens == sum(len(s) + 2 for s in test)  # two </s> predicted per sentence


def test_fit_ids_equals_fit(corpus):
    train, test = corpus
    lm = NGramLM.fit(train, order=3, method="mkn")
    ids = np.array([lm.word_id[w] for s in train for w in s])
    again = NGramLM.fit_ids(ids, [len(s) for s in train], lm.vocab, order=3, method="mkn")
    np.testing.assert_array_equal(again.token_logprobs(test), lm.token_logprobs(test))


def test_min_count_maps_rare_words_to_unk():
    lm = NGramLM.fit([["a", "a", "b"], ["a", "c"]], order=2, method="kn", min_count=2)
    assert lm.vocab == ["<unk>", "<s>", "</s>", "a"]
    assert lm.logprob("b", ["a"]) == lm.logprob("<unk>", ["a"]) == lm.logprob("zzz", ["a"])
    assert lm.score_sentences([["a", "q", "r"]]).oov == 2


def test_score_text_uses_the_shared_sentence_splitter(corpus):
    train, _ = corpus
    lm = NGramLM.fit(train, order=2, method="kn")
    text = "W1 w2, w3!\n\nw0\n"
    assert lm.score_text(text) == lm.score_sentences([["w1", "w2", "w3"], ["w0"]])._replace(chars=len(text))


# ----------------------------------------------------------------------------- sampling


def test_sampling_is_valid_and_seeded(corpus):
    train, _ = corpus
    lm = NGramLM.fit(train, order=3, method="mkn")
    a = lm.sample(8, max_len=12, seed=3)
    assert a == lm.sample(8, max_len=12, seed=3)
    assert a != lm.sample(8, max_len=12, seed=4)
    words = set(lm.vocab) - {"<s>", "</s>"}
    assert len(a) == 8 and all(len(s) <= 12 and set(s) <= words for s in a)
    assert all("<unk>" not in s for s in lm.sample(8, seed=5, skip_unk=True))


def test_mle_bigram_samples_the_only_sentence():
    lm = NGramLM.fit([["to", "be", "or", "not"]], order=2, method="mle")
    assert lm.sample(3, seed=0) == [["to", "be", "or", "not"]] * 3
    assert lm.sample(1, max_len=2, seed=0) == [["to", "be"]]


def test_sampling_follows_the_distribution():
    lm = NGramLM.fit([["a"]] * 3 + [["b"]], order=2, method="mle")
    draws = [s[0] for s in lm.sample(2000, max_len=1, seed=0)]
    assert draws.count("a") / 2000 == pytest.approx(0.75, abs=0.03)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"order": 0}, "order must be an integer >= 1"),
        ({"order": "3"}, "order must be an integer >= 1"),
        ({"method": "wittenbell"}, "unknown n-gram method 'wittenbell'"),
        ({"method": "kn", "discount": 1.5}, "discount must lie in"),
        ({"method": "mkn", "discount": 0.5}, "three discounts"),
        ({"method": "addk", "k": 0}, "k > 0"),
        ({"method": "mle", "discount": 0.5}, "takes no discount"),
        ({"min_count": 0}, "min_count"),
        ({"padding": "double"}, "unknown padding"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(UserError, match=message):
        NGramLM.fit(TINY, **kwargs)


@pytest.mark.parametrize(
    "sentences, message",
    [
        ([], "no words"),
        ([[], []], "no words"),
        ("to be or not to be", "not one string"),
        (["to be", "or not"], "must be a list of words"),
        ([["a", "</s>", "b"]], "contains <s> or </s>"),
    ],
)
def test_bad_corpus(sentences, message):
    with pytest.raises(UserError, match=message):
        NGramLM.fit(sentences, order=2)


def test_bad_queries():
    lm = NGramLM.fit(TINY, order=2)
    with pytest.raises(UserError, match="list of words"):
        lm.logprob("a", "b")
    with pytest.raises(UserError, match="no sentences to score"):
        lm.perplexity([])
    with pytest.raises(UserError, match="must be a list of words"):
        lm.perplexity(["a b"])
