"""Scoring translations: corpus BLEU through sacrebleu, exact match, and a word-by-word
dictionary baseline to compare a trained model against.

BLEU (Papineni et al. 2002) is sacrebleu's corpus BLEU with its standard tokenizers: ``13a``
for space-separated targets, ``zh`` for Chinese (every CJK character a token, other text as
13a), so Chinese scores do not depend on a word segmenter; ``char`` for strings without words
(the digit tasks). ``sacrebleu`` is an optional
package (the ``translation`` and ``test`` extras).

The baseline (``WordByWord``) is the simplest translation model that uses the parallel data:
a dictionary from each source word to the target character or character pair that co-occurs
with it most consistently across aligned training pairs (the Dice coefficient, 2 c(e, z) /
(c(e) + c(z)), counted once per pair), read off word by word in source order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..core.errors import UserError

WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|\d+")


def bleu(hypotheses: Sequence[str], references: Sequence[str], target_language: str | None = None) -> float:
    """Corpus BLEU (0-100) of ``hypotheses`` against one reference each."""
    try:
        import sacrebleu
    except ImportError:
        raise UserError("BLEU needs the sacrebleu package", "pip install sacrebleu") from None
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    tokenize = target_language if target_language in ("zh", "char") else "13a"
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize).score)


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """The share of hypotheses equal to their reference."""
    return sum(h == r for h, r in zip(hypotheses, references, strict=True)) / max(len(references), 1)


def source_words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def target_units(text: str) -> set[str]:
    """Characters and adjacent character pairs of a target text, punctuation and spaces aside."""
    chars = [c for c in text if c.isalnum()]
    return set(chars) | {a + b for a, b in zip(chars, chars[1:])}


class WordByWord:
    """Dice-coefficient dictionary from aligned pairs; translates word by word."""

    def __init__(self, dictionary: dict[str, tuple[str, float]], threshold: float = 0.1):
        self.dictionary, self.threshold = dictionary, threshold

    @classmethod
    def fit(cls, pairs: Sequence[tuple[str, str]], min_count: int = 2, threshold: float = 0.1) -> WordByWord:
        """Count co-occurrence of source words and target units over ``pairs`` (a sparse
        matrix product, scipy) and keep each word's best unit by Dice."""
        try:
            from scipy import sparse
        except ImportError:
            raise UserError("the word-by-word baseline needs scipy", "pip install scipy") from None
        word_sets = [set(source_words(s)) for s, _ in pairs]
        unit_sets = [target_units(t) for _, t in pairs]
        word_count = Counter(w for ws in word_sets for w in ws)
        unit_count = Counter(u for us in unit_sets for u in us)
        words = sorted(w for w, c in word_count.items() if c >= min_count)
        units = sorted(u for u, c in unit_count.items() if c >= min_count)
        if not words or not units:
            raise UserError("too few repeated words to build a word-by-word dictionary", "give more pairs")
        word_id, unit_id = {w: i for i, w in enumerate(words)}, {u: i for i, u in enumerate(units)}

        def incidence(sets, index):  # (pairs, len(index)) sparse 0/1
            rows = [row for row, xs in enumerate(sets) for x in xs if x in index]
            cols = [index[x] for xs in sets for x in xs if x in index]
            return sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), (len(sets), len(index)))

        together = (incidence(word_sets, word_id).T @ incidence(unit_sets, unit_id)).tocoo()
        w_at, u_at, c = together.row, together.col, together.data
        cw = np.array([word_count[w] for w in words], dtype=np.float32)
        cu = np.array([unit_count[u] for u in units], dtype=np.float32)
        dice = 2 * c / (cw[w_at] + cu[u_at])
        best = np.full(len(words), -1.0, dtype=np.float32)
        np.maximum.at(best, w_at, dice)
        dictionary = {}
        top = dice == best[w_at]
        for w, u, d in zip(w_at[top].tolist(), u_at[top].tolist(), dice[top].tolist()):
            if (words[w] not in dictionary or len(units[u]) > len(dictionary[words[w]][0])):
                dictionary[words[w]] = (units[u], d)  # ties: the longer unit
        return cls(dictionary, threshold)

    def translate(self, text: str) -> str:
        out: list[str] = []
        for word in source_words(text):
            unit, score = self.dictionary.get(word, ("", 0.0))
            if score >= self.threshold and (not out or out[-1] != unit):
                out.append(unit)
        return "".join(out)
