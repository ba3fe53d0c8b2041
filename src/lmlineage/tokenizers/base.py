"""The interface every tokenizer implements, and the file checks they share.

Every tokenizer saves to ``tokenizer.json`` in Hugging Face ``tokenizers`` format, so a checkpoint
directory is readable by ``tokenizers.Tokenizer.from_file`` and ``transformers`` alike.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from lmlineage.core.errors import UserError

TOKENIZER_FILE = "tokenizer.json"


class Tokenizer(ABC):
    """Text <-> token ids.

    ``encode`` maps raw text to ids and adds no special tokens (no [CLS]/[SEP], no BOS): objectives
    and collators add the ones their paper uses. Special tokens written in the text itself
    (e.g. ``<|endoftext|>``) are recognised as such.
    """

    kind: str  # "char", "bpe", "wordpiece", "unigram", "gpt2" or "file"
    special_ids: dict[str, int]  # e.g. {"[CLS]": 2, "[SEP]": 3} or {"<|endoftext|>": 50256}
    eos_id: int | None = None
    bos_id: int | None = None
    pad_id: int | None = None

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def encode(self, text: str) -> list[int]: ...

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def encode_batch_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        """``encode_batch`` as integer arrays: what the token-file writer streams."""
        return [np.asarray(ids, dtype=np.int64) for ids in self.encode_batch(texts)]

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str: ...

    @abstractmethod
    def token_to_id(self, token: str) -> int | None: ...

    @abstractmethod
    def id_to_token(self, id: int) -> str | None: ...

    @abstractmethod
    def to_json(self) -> str:
        """The tokenizer as Hugging Face tokenizer.json text."""

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``tokenizer.json`` into ``directory`` (created if needed); return its path."""
        file = Path(directory) / TOKENIZER_FILE
        atomic_write_text(file, self.to_json())
        return file

    @property
    def document_separator(self) -> str:
        """Text put between documents in a token stream: the end-of-text token where there is
        one (GPT-2 style), else BERT's [SEP], else a blank line."""
        for id_ in (self.eos_id, self.special_ids.get("[SEP]")):
            if id_ is not None:
                return self.id_to_token(id_)
        return "\n\n"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, vocab_size={self.vocab_size})"


def chunk_end(text: str, chunk_chars: int, exact: bool = False) -> int:
    """Where to end a chunk of ``text`` (0: not yet). Preferably after the last line break between two
    non-space characters in the last ``chunk_chars`` characters, where byte-level BPE's and
    WordPiece's pre-tokenizers split anyway (so chunks give the same words as the whole text), else
    (unless ``exact``) after the last line break, else -- a text without line breaks -- at 4 chunks' length."""
    if len(text) < chunk_chars:
        return 0
    low, end = max(1, len(text) - chunk_chars), len(text) - 1
    while (newline := text.rfind("\n", low, end)) >= 0:
        if not text[newline - 1].isspace() and not text[newline + 1].isspace():
            return newline + 1
        end = newline
    if exact:
        return 0
    newline = text.rfind("\n")
    if newline >= 0:
        return newline + 1
    return len(text) if len(text) >= 4 * chunk_chars else 0


def check_text(text: object) -> str:
    """Passing a non-string to ``encode`` is a programming error, not bad user input; a string
    holding a lone surrogate (what invalid UTF-8 bytes on a command line decode to) is bad input."""
    if not isinstance(text, str):
        raise TypeError(f"encode expects str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise UserError(
            f"the text holds {text[err.start]!r} at character {err.start}, which is not Unicode text "
            "(invalid UTF-8 bytes in the input?)",
            "give valid UTF-8 text",
        ) from None
    return text


def as_id_list(ids: Iterable[int]) -> list[int]:
    """Accept lists, numpy arrays and tensors of ids."""
    tolist = getattr(ids, "tolist", None)
    return [int(i) for i in (tolist() if tolist else ids)]


def resolve_tokenizer_file(path: str | os.PathLike) -> Path:
    """A tokenizer.json given directly or inside a directory; UserError if there is none."""
    path = Path(path).expanduser()
    file = path / TOKENIZER_FILE if path.is_dir() else path
    if not file.is_file():
        where = f"{path} has no {TOKENIZER_FILE}" if path.is_dir() else f"{file} does not exist"
        raise UserError(f"tokenizer file not found: {where}", "give a tokenizer.json or a checkpoint directory")
    return file


def read_tokenizer_json(file: Path) -> tuple[str, dict]:
    """The file's text and its parsed JSON; UserError naming the file if either is broken."""
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"tokenizer file {file} is not valid UTF-8 (bad byte at offset {err.start})",
            "give a tokenizer.json written by lmlineage or Hugging Face tokenizers",
        ) from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(
            f"tokenizer file {file} is not valid JSON ({err.msg} at line {err.lineno})",
            "give a tokenizer.json written by lmlineage or Hugging Face tokenizers",
        ) from None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
        raise UserError(
            f"tokenizer file {file} is not a Hugging Face tokenizer.json (no 'model' object)",
            "give a tokenizer.json written by lmlineage or Hugging Face tokenizers",
        )
    return text, spec


def atomic_write_text(file: Path, text: str) -> None:
    """Write then rename, so a reader never sees half a file."""
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, file)
