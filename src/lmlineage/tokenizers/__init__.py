"""Tokenizers: character-level, trained BPE / WordPiece / Unigram, GPT-2's own, or any tokenizer.json.

    tok = build_tokenizer("bpe", load_corpus("shakespeare"), vocab_size=4096)
    tok.save(checkpoint_dir)              # writes checkpoint_dir/tokenizer.json
    tok = load_tokenizer(checkpoint_dir)  # same ids
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from lmlineage.core.errors import UserError
from lmlineage.tokenizers.base import TOKENIZER_FILE, Tokenizer, read_tokenizer_json, resolve_tokenizer_file
from lmlineage.tokenizers.char import CharTokenizer
from lmlineage.tokenizers.gpt2 import load_gpt2
from lmlineage.tokenizers.hf import DEFAULT_VOCAB_SIZES, HFTokenizer, from_json, kind_of, train

__all__ = [
    "TOKENIZER_FILE",
    "TOKENIZER_KINDS",
    "CharTokenizer",
    "HFTokenizer",
    "Tokenizer",
    "build_tokenizer",
    "load_tokenizer",
]

TOKENIZER_KINDS = {
    "char": "one id per character of the corpus (nanoGPT's shakespeare_char)",
    "bpe": f"byte-level BPE trained on the corpus (GPT-2 style, default vocab {DEFAULT_VOCAB_SIZES['bpe']})",
    "wordpiece": f"BERT WordPiece trained on the corpus (lowercased, default vocab {DEFAULT_VOCAB_SIZES['wordpiece']})",
    "unigram": f"SentencePiece-style unigram trained on the corpus (default vocab {DEFAULT_VOCAB_SIZES['unigram']})",
    "gpt2": "GPT-2's own 50257-token BPE (needs openai-whisper installed with --no-deps)",
}


def build_tokenizer(spec: str, texts: Iterable[str] | str = (), vocab_size: int | None = None,
                    bpe_specials: Sequence[str] = ()) -> Tokenizer:
    """A tokenizer by name, trained on ``texts`` where it needs training.

    ``spec`` is one of ``TOKENIZER_KINDS`` or the path of a tokenizer.json (or of a directory
    holding one), which is loaded as is. ``vocab_size`` applies to bpe, wordpiece and unigram;
    ``bpe_specials`` (the tokens a task reads, ``Task.special_tokens``) to a trained bpe.
    """
    if spec == "gpt2":
        return load_gpt2()
    if spec in ("char", "bpe", "wordpiece", "unigram"):
        if vocab_size is not None and spec == "char":
            raise UserError("a char tokenizer's vocabulary is the corpus's characters", "leave out the vocab size")
        if vocab_size is not None and vocab_size < 1:
            raise UserError(f"vocab size must be positive, got {vocab_size}")
        chars = 0

        def counted(texts: Iterable[str]) -> Iterable[str]:  # texts may be a one-pass stream
            nonlocal chars
            for text in texts:
                chars += len(text) if isinstance(text, str) else 0
                yield text

        texts = counted([texts] if isinstance(texts, str) else texts)
        tok = CharTokenizer.train(texts) if spec == "char" else train(spec, texts, vocab_size, bpe_specials)
        if chars == 0:
            raise UserError(f"no text to build the {spec} tokenizer from", "give a non-empty corpus")
        return tok
    if Path(spec).expanduser().exists():
        return load_tokenizer(spec)
    kinds = ", ".join(TOKENIZER_KINDS)
    raise UserError(f"unknown tokenizer {spec!r}", f"choose one of {kinds}, or give a path to a tokenizer.json")


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load what ``Tokenizer.save`` wrote, or any Hugging Face tokenizer.json (a file, or a
    directory holding one)."""
    file = resolve_tokenizer_file(path)
    text, spec = read_tokenizer_json(file)
    char = CharTokenizer.from_hf_spec(spec)
    if char is not None:
        return char
    from lmlineage.tokenizers.word import WordTokenizer  # the classic word-level LMs' (NNLM, ELMo)

    word = WordTokenizer.from_hf_spec(spec)
    if word is not None:
        return word
    tok = from_json(text, file, kind_of(spec))
    if tok.kind == "bpe" and _is_gpt2(tok):
        tok.kind = "gpt2"
    return tok


def _is_gpt2(tok: HFTokenizer) -> bool:
    """GPT-2's vocabulary, recognised by size and a few ids that only it has."""
    return (
        tok.vocab_size == 50257
        and tok.token_to_id("<|endoftext|>") == 50256
        and tok.token_to_id("Hello") == 15496
        and tok.token_to_id("Ġworld") == 995
    )
