"""Classic families share the registry, the CLI, run directories and `eval`."""

from lmlineage.cli import main


def test_ngram_trains_evaluates_and_samples_from_the_cli(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the cat sat on the mat number {i % 7}" for i in range(400)) + "\n")
    out = tmp_path / "run"
    assert main(["train", "ngram", "--data", str(corpus), "--out", str(out), "--no-progress"]) == 0
    trained = capsys.readouterr().out
    assert "val loss" in trained and (out / "best" / "manifest.json").exists()
    assert main(["eval", str(out), "--data", str(corpus), "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["perplexity"] < 5  # a near-deterministic corpus: far below the 12-word vocabulary
    assert main(["generate", str(out), "--prompt", "the", "--seed", "1"]) == 0
    words = capsys.readouterr().out.split()
    assert words and set(words) <= {"the", "cat", "sat", "on", "mat", "number", *map(str, range(7))}
    # the prompt is echoed and continued, as the neural models do: "The cat sat on" goes on with "the mat"
    assert main(["generate", str(out), "--prompt", "The cat sat on", "--seed", "1", "--max-new-tokens", "2"]) == 0
    assert capsys.readouterr().out == "The cat sat on the mat\n"


def _topic_corpus(path):
    """Two topics whose words never share a line: neighbours must stay within a topic."""
    import random

    rng = random.Random(0)
    animals, tools = ["cat", "dog", "horse", "cow", "goat"], ["hammer", "saw", "drill", "wrench", "chisel"]
    lines = [" ".join(rng.choices(animals if i % 2 else tools, k=8)) for i in range(600)]
    path.write_text("\n".join(lines) + "\n")
    return animals, tools


def test_word2vec_trains_from_the_cli_and_answers_queries(tmp_path, capsys):
    import json

    import numpy as np

    corpus = tmp_path / "corpus.txt"
    animals, tools = _topic_corpus(corpus)
    out = tmp_path / "w2v"
    assert main(["train", "word2vec", "--data", str(corpus), "--out", str(out), "--no-progress", "--arch", "cbow",
                 "--dim", "16", "--epochs", "3", "--min-count", "2", "--window", "3", "--sample", "0"]) == 0
    assert "16 (cbow" in capsys.readouterr().out
    best = out / "best"
    assert {"model.safetensors", "config.json", "vectors.bin", "manifest.json"} <= {p.name for p in best.iterdir()}
    assert json.loads((best / "config.json").read_text())["config"]["arch"] == "cbow"
    assert main(["similar", str(out), "cat", "--topn", "4", "--json"]) == 0
    neighbours = [w for w, _ in json.loads(capsys.readouterr().out)]
    assert sorted(neighbours) == sorted(set(animals) - {"cat"})
    assert main(["embed", str(out), "--text", "the cat and the dog", "--text", "a saw", "--json"]) == 0
    a, b = np.array(json.loads(capsys.readouterr().out))
    assert abs(np.linalg.norm(a) - 1) < 1e-5 and abs(np.linalg.norm(b) - 1) < 1e-5


def test_word2vec_hierarchical_softmax_and_its_binary_file_reads_in_gensim(tmp_path, capsys):
    import pytest

    gensim = pytest.importorskip("gensim")
    from lmlineage.classic.word2vec import Word2Vec

    corpus = tmp_path / "corpus.txt"
    _topic_corpus(corpus)
    out = tmp_path / "w2v"
    assert main(["train", "word2vec", "--data", str(corpus), "--out", str(out), "--no-progress", "--hs",
                 "--dim", "8", "--epochs", "1", "--min-count", "1"]) == 0
    model = Word2Vec.load(out / "best")
    assert model.config.hs and model.config.negative == 0 and model.syn1 is not None and model.syn1neg is None
    theirs = gensim.models.KeyedVectors.load_word2vec_format(str(out / "best" / "vectors.bin"), binary=True)
    assert list(theirs.index_to_key) == model.words
    assert (theirs.vectors == model.syn0).all()


def test_family_options_are_checked(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    _topic_corpus(corpus)
    assert main(["train", "ngram", "--data", str(corpus), "--out", str(tmp_path / "n"), "--arch", "cbow"]) == 2
    assert "takes no option --arch" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()
    assert main(["train", "word2vec", "--data", str(corpus), "--arch", "glove"]) == 2
    out = tmp_path / "w"
    assert main(["train", "word2vec", "--data", str(corpus), "--out", str(out), "--no-progress", "--dim", "4",
                 "--epochs", "1", "--min-count", "1"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--data", str(corpus)]) == 2
    assert "no perplexity" in capsys.readouterr().err
    assert main(["similar", str(out), "unicorn"]) == 2


def test_order_sets_the_ngrams_n_as_it_sets_the_nnlms(tmp_path, capsys):
    """`--order` is n for both word models that condition on the previous n-1 words (issue 14,
    item 11: it was documented as "nnlm: n" and refused for ngram)."""
    import json

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the cat sat on the mat number {i % 7}" for i in range(400)) + "\n")
    out = tmp_path / "bigram"
    assert main(["train", "ngram", "--data", str(corpus), "--out", str(out), "--order", "2", "--no-progress"]) == 0
    assert json.loads((out / "best" / "config.json").read_text())["order"] == 2
    assert main(["train", "ngram", "--data", str(corpus), "--out", str(tmp_path / "none"), "--order", "0"]) == 2
    assert "--order 0" in capsys.readouterr().err and not (tmp_path / "none").exists()
    import pytest

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    order_help = " ".join(capsys.readouterr().out.split("--order ORDER", 2)[2].split("--direct")[0].split())
    assert "ngram" in order_help and "nnlm" in order_help


def test_the_ngrams_sample_is_a_continuation_of_many_words(tmp_path, capsys):
    """Its sample goes on sentence after sentence for as many tokens as the neural word LMs' does
    (30), a sentence end counting as one, written as a line break (issue 14, item 12: it was one
    sentence, here at most 8 words); a one-pass fit reports no steps."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the cat sat on the mat number {i % 7}" for i in range(400)) + "\n")
    assert main(["train", "ngram", "--data", str(corpus), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    report, sample = capsys.readouterr().out.split("--- sample ---\n")
    assert "fitted in one pass" in report and "0 steps" not in report
    lines = sample.strip("\n").split("\n")
    assert len(lines) >= 3 and len(sample.split()) + sample.count("\n") >= 29
    assert all(line.split()[:3] == ["the", "cat", "sat"] for line in lines)  # each a sentence of the corpus's
    assert main(["generate", str(tmp_path / "run"), "--prompt", "the cat", "--max-new-tokens", "20", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the cat sat on the mat number ") and len(out.split()) + out.count("\n") >= 20
