"""Token files: write, memory-map, split like nanoGPT, stream like one-shot encoding."""

import json

import numpy as np
import pytest

from lmlineage.core.errors import UserError
from lmlineage.data.corpora import iter_corpus_chunks
from lmlineage.data.tokens import (
    open_token_file,
    prepare_tokens,
    read_token_sidecar,
    token_dtype,
    write_token_file,
)
from lmlineage.tokenizers import build_tokenizer

TEXT = (
    "KING:\nWhat say you, lords? Speak, speak!\n\n"
    "LORD:\nMy liege, the French are come.\nWe'll fight   them on the shore...\n\n"
) * 40


def test_token_file_roundtrip(tmp_path):
    tok = build_tokenizer("char", TEXT)
    path = tmp_path / "tokens.bin"
    count = write_token_file([TEXT[:100], TEXT[100:]], tok, path)
    assert count == len(TEXT)
    tokens = open_token_file(path)
    assert isinstance(tokens, np.memmap) and tokens.dtype == np.uint16
    assert tokens.tolist() == tok.encode(TEXT)
    meta = read_token_sidecar(path)
    assert meta["count"] == count and meta["vocab_size"] == tok.vocab_size and meta["tokenizer"] == "char"
    assert not list(tmp_path.glob(".*tmp"))  # written under a temporary name, then renamed


def test_dtype_follows_vocab_size():
    assert token_dtype(65) == np.uint16
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


def test_empty_token_file(tmp_path):
    tok = build_tokenizer("char", "ab")
    assert write_token_file([], tok, tmp_path / "e.bin") == 0
    assert len(open_token_file(tmp_path / "e.bin")) == 0


def test_damaged_token_files(tmp_path):
    tok = build_tokenizer("char", TEXT)
    path = tmp_path / "t.bin"
    write_token_file([TEXT], tok, path)
    with open(path, "r+b") as f:
        f.truncate(100)
    with pytest.raises(UserError, match="truncated"):
        open_token_file(path)
    path.with_name("t.bin.json").write_text("{}")
    with pytest.raises(UserError, match="damaged"):
        open_token_file(path)
    path.with_name("t.bin.json").unlink()
    with pytest.raises(UserError, match="no sidecar"):
        open_token_file(path)
    with pytest.raises(UserError, match="does not exist"):
        open_token_file(tmp_path / "missing.bin")


def test_split_matches_nanogpt_char_split(tmp_path):
    corpus = tmp_path / "input.txt"
    corpus.write_text(TEXT)
    tok = build_tokenizer("char", TEXT)
    train, val = prepare_tokens(corpus, tok, tmp_path / "out")
    n = len(TEXT)  # nanoGPT: train_data = data[:int(n*0.9)], val_data = data[int(n*0.9):]
    assert tok.decode(train) == TEXT[: int(n * 0.9)]
    assert tok.decode(val) == TEXT[int(n * 0.9) :]
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["train.bin", "train.bin.json", "val.bin", "val.bin.json"]


def test_tinyshakespeare_split_sizes(tinyshakespeare, tmp_path):
    corpus = tmp_path / "input.txt"
    corpus.write_text(tinyshakespeare)
    tok = build_tokenizer("char", tinyshakespeare)
    train, val = prepare_tokens(corpus, tok, tmp_path / "out")
    assert (len(train), len(val)) == (1_003_854, 111_540)  # the counts nanoGPT's prepare.py prints


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_streaming_equals_one_shot_encoding(tmp_path, kind):
    text = (TEXT + "  indented line\n\ttabbed é中🤗 line\n\n\n") * 5
    corpus = tmp_path / "input.txt"
    corpus.write_text(text)
    tok = build_tokenizer(kind, text, vocab_size=None if kind == "char" else 400)
    count = write_token_file(iter_corpus_chunks(corpus, chunk_chars=50), tok, tmp_path / "s.bin")
    assert open_token_file(tmp_path / "s.bin").tolist() == tok.encode(text)
    assert count == len(tok.encode(text))


def test_documents_are_joined_by_the_tokenizer_separator(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    docs = [TEXT[:400], TEXT[400:900], TEXT[900:]]
    for i, doc in enumerate(docs):
        (folder / f"{i}.txt").write_text(doc)
    bpe = build_tokenizer("bpe", docs, vocab_size=400)
    train, val = prepare_tokens(folder, bpe, tmp_path / "bpe", val_fraction=0.2)
    stream = np.concatenate([train, val]).tolist()
    assert stream.count(bpe.eos_id) == 2
    assert stream == bpe.encode("<|endoftext|>".join(docs))
    assert len(train) == int(len(stream) * 0.8)
    char = build_tokenizer("char", docs)
    train, val = prepare_tokens(folder, char, tmp_path / "char")
    assert char.decode(np.concatenate([train, val])) == "\n\n".join(docs)


def test_prepared_files_are_reused_until_something_changes(tmp_path):
    corpus = tmp_path / "input.txt"
    corpus.write_text(TEXT)
    tok = build_tokenizer("char", TEXT)
    out = tmp_path / "out"
    prepare_tokens(corpus, tok, out)
    stamp = (out / "train.bin").stat().st_mtime_ns
    prepare_tokens(corpus, tok, out)
    assert (out / "train.bin").stat().st_mtime_ns == stamp
    other = build_tokenizer("char", TEXT + "#")
    train, _ = prepare_tokens(corpus, other, out)
    assert json.loads((out / "train.bin.json").read_text())["vocab_size"] == other.vocab_size
    assert other.decode(train) == TEXT[: int(len(TEXT) * 0.9)]


def test_bad_split_requests(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("a")
    tok = build_tokenizer("char", "a")
    with pytest.raises(UserError, match="val_fraction"):
        prepare_tokens(corpus, tok, tmp_path / "a", val_fraction=1.0)
    with pytest.raises(UserError, match="too few"):
        prepare_tokens(corpus, tok, tmp_path / "b", val_fraction=0.1)
    assert not (tmp_path / "b" / "all.bin").exists()
