"""Raw text to sentences of words, for the classic count- and window-based models.

One non-blank line is one sentence; a word is a run of letters and digits, with inner
apostrophes kept (``'tis`` -> ``tis``, ``don't`` -> ``don't``). No tokenizer to train, no
punctuation tokens: what word2vec and an n-gram model over words expect.
"""

from __future__ import annotations

import re

__all__ = ["WORD", "sentences_from_text", "words_from_line"]

# Letters and digits (any script), joined by an apostrophe inside a word.
WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


def words_from_line(line: str, lowercase: bool = True) -> list[str]:
    """The words of one line, lowercased unless ``lowercase=False``."""
    return WORD.findall(line.lower() if lowercase else line)


def sentences_from_text(text: str, lowercase: bool = True) -> list[list[str]]:
    """One sentence per non-blank line of ``text``; lines with no word are dropped."""
    sentences = (words_from_line(line, lowercase) for line in text.splitlines())
    return [words for words in sentences if words]
