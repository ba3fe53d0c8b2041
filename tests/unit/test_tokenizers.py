"""Tokenizers: char, trained subword tokenizers, GPT-2's BPE, loading and bad input."""

import base64
import json

import pytest

from lmlineage.core.errors import UserError
from lmlineage.tokenizers import CharTokenizer, build_tokenizer, load_tokenizer

SMALL_TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n\n"
) * 20

MULTILINGUAL = (
    "Hello world! It's a test, isn't it? We'll see; they've gone. I'm HERE.\n"
    "Café, naïve, Zürich, façade, señor — «quotes» and ‘curly’ ones…\n"
    "中文分词测试：我们的模型很好。日本語のテキストも。한국어 문장.\n"
    "Emoji: 🤗🎉 👩‍👩‍👧 👍🏽 ❤️\n"
    "Русский текст: Привет, мир! Ёжик.\n"
    "def f(x):\n\treturn x ** 2  # comment\n    if  x  >=  10:\n        pass\n"
    "Numbers 12345 3.14159 1,000,000 and   multiple    spaces   \n\n\n"
    "trailing spaces    \t\n"
    "<|endoftext|>A new document<|endoftext|> after.<|endoftext|>"
)


# ---------------------------------------------------------------------------------------------
# char


def test_char_tinyshakespeare_has_65_characters_and_roundtrips(tinyshakespeare):
    tok = build_tokenizer("char", tinyshakespeare)
    assert tok.kind == "char"
    assert tok.vocab_size == 65
    assert tok.chars == sorted(set(tinyshakespeare))
    ids = tok.encode(tinyshakespeare)
    assert len(ids) == len(tinyshakespeare)
    assert ids[:5] == [tok.chars.index(c) for c in tinyshakespeare[:5]]
    assert tok.decode(ids) == tinyshakespeare


def test_char_unknown_character_names_it():
    tok = build_tokenizer("char", "abc")
    with pytest.raises(UserError, match="'z'"):
        tok.encode("abz")


def test_char_documents_get_a_newline_to_be_joined_with():
    assert build_tokenizer("char", ["ab", "c"]).chars == ["\n", "a", "b", "c"]
    assert build_tokenizer("char", "ba").chars == ["a", "b"]


def test_char_saves_as_hf_tokenizer_json(tmp_path):
    from tokenizers import Tokenizer as HF
    from transformers import PreTrainedTokenizerFast

    text = "Hello, wörld!\n\tÉmoji 🤗 中文"
    tok = build_tokenizer("char", text)
    tok.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, CharTokenizer)
    assert loaded.chars == tok.chars
    ids = tok.encode(text)
    assert loaded.encode(text) == ids
    assert HF.from_file(str(tmp_path / "tokenizer.json")).encode(text).ids == ids
    fast = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    assert fast(text)["input_ids"] == ids
    assert fast.decode(ids) == text


# ---------------------------------------------------------------------------------------------
# trained subword tokenizers


@pytest.mark.parametrize("kind", ["bpe", "wordpiece", "unigram"])
def test_trained_tokenizer_saves_and_loads(kind, tmp_path):
    tok = build_tokenizer(kind, [SMALL_TEXT], vocab_size=300)
    assert tok.kind == kind
    assert tok.vocab_size <= 300
    sample = "First Citizen:\nBefore we proceed,  hear me speak?\n"
    ids = tok.encode(sample)
    assert tok.encode_batch([sample, "All:"]) == [ids, tok.encode("All:")]
    tok.save(tmp_path)
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    assert loaded.kind == kind
    assert loaded.encode(sample) == ids
    assert loaded.special_ids == tok.special_ids
    if kind == "wordpiece":  # lowercased; whitespace is not kept
        assert "".join(loaded.decode(ids).split()) == "".join(sample.lower().split())
    else:
        assert loaded.decode(ids) == sample


def test_special_tokens():
    bpe = build_tokenizer("bpe", SMALL_TEXT, vocab_size=300)
    assert bpe.eos_id == bpe.bos_id == bpe.special_ids["<|endoftext|>"]
    assert bpe.encode("<|endoftext|>") == [bpe.eos_id]
    assert bpe.document_separator == "<|endoftext|>"
    wp = build_tokenizer("wordpiece", SMALL_TEXT, vocab_size=300)
    assert set(wp.special_ids) == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    assert wp.pad_id == wp.special_ids["[PAD]"] and wp.eos_id is None
    assert wp.encode("[MASK]") == [wp.special_ids["[MASK]"]]
    assert wp.hf.encode("first").ids[0] == wp.special_ids["[CLS]"]  # BERT's template, for transformers
    uni = build_tokenizer("unigram", SMALL_TEXT, vocab_size=300)
    assert uni.eos_id == uni.special_ids["</s>"] and uni.pad_id == uni.special_ids["<pad>"]


def test_bpe_encodes_any_bytes():
    tok = build_tokenizer("bpe", SMALL_TEXT, vocab_size=300)
    assert tok.decode(tok.encode(MULTILINGUAL)) == MULTILINGUAL


# ---------------------------------------------------------------------------------------------
# GPT-2


def _reference_gpt2_ids(text: str) -> list[int]:
    """GPT-2 ids by a plain re-implementation over the ranks file: regex pieces, then BPE that
    always merges the adjacent pair forming the lowest-ranked token."""
    import regex

    from lmlineage.tokenizers.gpt2 import gpt2_ranks_file

    ranks = {}
    for line in gpt2_ranks_file().read_text().splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    pattern = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    ids: list[int] = []
    for n, segment in enumerate(text.split("<|endoftext|>")):
        if n:
            ids.append(50256)
        for piece in pattern.findall(segment):
            parts = [bytes([b]) for b in piece.encode("utf-8")]
            while len(parts) > 1:
                candidates = [(ranks.get(parts[i] + parts[i + 1]), i) for i in range(len(parts) - 1)]
                candidates = [c for c in candidates if c[0] is not None]
                if not candidates:
                    break
                _, i = min(candidates)
                parts[i : i + 2] = [parts[i] + parts[i + 1]]
            ids.extend(ranks[p] for p in parts)
    return ids


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """Built from the ranks file into an empty cache, so the build itself is what is tested."""
    pytest.importorskip("regex")
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMLINEAGE_CACHE", str(cache))
        try:
            tok = build_tokenizer("gpt2")
        except UserError as err:
            pytest.skip(str(err))
        assert len(list(cache.glob("gpt2-*.tokenizer.json"))) == 1
        assert build_tokenizer("gpt2").to_json() == tok.to_json()  # the cached copy
    return tok


def test_gpt2_matches_reference_bpe(gpt2):
    assert gpt2.kind == "gpt2"
    assert gpt2.vocab_size == 50257
    assert gpt2.encode(MULTILINGUAL) == _reference_gpt2_ids(MULTILINGUAL)
    for line in MULTILINGUAL.splitlines(keepends=True):
        assert gpt2.encode(line) == _reference_gpt2_ids(line)
    assert gpt2.decode(gpt2.encode(MULTILINGUAL)) == MULTILINGUAL


def test_gpt2_known_ids(gpt2):
    assert gpt2.encode("Hello") == [15496]
    assert gpt2.encode(" world") == [995]
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.encode("<|endoftext|>") == [50256]
    assert gpt2.eos_id == gpt2.bos_id == 50256 and gpt2.pad_id is None
    assert gpt2.token_to_id("<|endoftext|>") == 50256


def test_gpt2_tokenizer_json_loads_in_transformers(gpt2, tmp_path):
    from transformers import PreTrainedTokenizerFast

    file = gpt2.save(tmp_path)
    assert load_tokenizer(tmp_path).kind == "gpt2"
    fast = PreTrainedTokenizerFast(tokenizer_file=str(file))
    assert fast(MULTILINGUAL)["input_ids"] == gpt2.encode(MULTILINGUAL)
    assert fast.decode(gpt2.encode(MULTILINGUAL)) == MULTILINGUAL


# ---------------------------------------------------------------------------------------------
# loading and bad input


def test_build_from_path_loads_it(tmp_path):
    tok = build_tokenizer("bpe", SMALL_TEXT, vocab_size=300)
    tok.save(tmp_path)
    assert build_tokenizer(str(tmp_path)).encode("speak") == tok.encode("speak")
    assert build_tokenizer(str(tmp_path / "tokenizer.json")).vocab_size == tok.vocab_size


def test_unknown_spec_lists_choices():
    with pytest.raises(UserError, match="char, bpe, wordpiece, unigram, gpt2"):
        build_tokenizer("sentencepiece", SMALL_TEXT)


def test_missing_tokenizer_file_is_named(tmp_path):
    with pytest.raises(UserError, match="has no tokenizer.json"):
        load_tokenizer(tmp_path)
    with pytest.raises(UserError, match="nope.json does not exist"):
        load_tokenizer(tmp_path / "nope.json")


@pytest.mark.parametrize(
    "content, words",
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (json.dumps({"version": "1.0"}).encode(), "no 'model'"),
        (json.dumps({"model": {"type": "Nonsense"}}).encode(), "cannot be loaded"),
    ],
)
def test_corrupt_tokenizer_file_is_named(tmp_path, content, words):
    file = tmp_path / "tokenizer.json"
    file.write_bytes(content)
    with pytest.raises(UserError, match=words) as err:
        load_tokenizer(file)
    assert str(file) in str(err.value)


def test_encode_of_non_string_is_a_type_error():
    for tok in (build_tokenizer("char", "abc"), build_tokenizer("bpe", SMALL_TEXT, vocab_size=300)):
        with pytest.raises(TypeError):
            tok.encode(b"abc")
        with pytest.raises(TypeError):
            tok.encode_batch(["a", 3])


@pytest.mark.parametrize("kind", ["char", "bpe", "wordpiece", "unigram"])
def test_no_text_to_train_on(kind):
    with pytest.raises(UserError, match="no text"):
        build_tokenizer(kind, ["", ""])


def test_bad_vocab_sizes():
    with pytest.raises(UserError, match="at least 257"):
        build_tokenizer("bpe", SMALL_TEXT, vocab_size=100)
    with pytest.raises(UserError, match="vocab size"):
        build_tokenizer("char", SMALL_TEXT, vocab_size=100)


# ---------------------------------------------------------------------------------------------
# training on a large corpus (issue 14, item 12: BPE on a 52 MB file peaked at 5.4 GB, no progress)

def test_a_long_text_is_read_in_pieces_and_learns_the_same_vocabulary(monkeypatch):
    """(BPE: WordPiece's training is not deterministic even on one whole text, so there is no
    vocabulary to compare against; its pieces end at the same line breaks.)"""
    from lmlineage.tokenizers import hf

    kind = "bpe"
    text = (SMALL_TEXT + MULTILINGUAL + "\n") * 40  # about 40,000 characters in one text
    monkeypatch.setattr(hf, "PIECE_CHARS", len(text) * 2)
    whole = build_tokenizer(kind, [text], 400).to_json()
    monkeypatch.setattr(hf, "PIECE_CHARS", 1000)
    pieces = list(hf._pieces([text], cut=True, show=False))
    assert "".join(pieces) == text and len(pieces) > 30 and max(map(len, pieces)) <= 1000
    assert build_tokenizer(kind, [text], 400).to_json() == whole


def test_training_memory_does_not_grow_with_a_texts_length():
    """Peak memory over the text's own size, training BPE on a 2.2 MB text in one piece: ~100
    bytes a character when the trainer read it whole (5.4 GB for 52 MB), under 15 now."""
    import subprocess
    import sys
    from pathlib import Path

    import lmlineage

    script = """
import resource
from lmlineage.tokenizers import build_tokenizer
line = "First Citizen: Before we proceed any further, hear me speak, number {}.\\n"
text = "".join(line.format(i % 5000) for i in range(30000))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
build_tokenizer("bpe", [text], 300)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / len(text))
"""
    src = str(Path(lmlineage.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 15


def test_training_off_a_terminal_says_what_it_is_doing(monkeypatch, capsys):
    from lmlineage.tokenizers import hf

    monkeypatch.setattr(hf, "LONG_CHARS", 1000)
    build_tokenizer("bpe", [SMALL_TEXT], 300)
    assert f"tokenizer: read {len(SMALL_TEXT):,} characters; learning the vocabulary" in capsys.readouterr().err
