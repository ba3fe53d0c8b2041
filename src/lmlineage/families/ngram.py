"""The statistical n-gram language model (Shannon 1948; Jelinek & Mercer 1980; Kneser & Ney
1995; Chen & Goodman 1998's modified Kneser-Ney).

P(w | the previous n-1 words) from counts, smoothed so unseen n-grams keep some mass. It is
fitted by counting, not by gradient descent (its task, ``counts``, fits it in one pass:
:mod:`lmlineage.classic.ngram`); its checkpoints sit in the same run directories and answer the same ``eval``.
"""

from __future__ import annotations

from ..classic.ngram import NGramConfig
from ..core.registry import Family, register

PRESETS = {
    "tiny": dict(order=3, method="mkn"),
    "small": dict(order=4, method="mkn"),
    "base": dict(order=5, method="mkn"),
    "kn": dict(order=3, method="kn"),
    "katz": dict(order=3, method="katz"),
}

# Shared with nnlm, which conditions on the same n-1 words: the one --order flag says both.
ORDER = dict(type=int, help="n, the words conditioned on plus one, for ngram and nnlm (default: the preset's: "
             "ngram 3, 4, 5 and nnlm 4, 5, 6 for tiny, small, base)")


def load(directory):
    from ..classic.ngram import load_checkpoint

    return load_checkpoint(directory)


register(Family(
    name="ngram",
    year=1948,
    parent=None,
    paper="Shannon 1948; Kneser & Ney 1995; Chen & Goodman 1998 (modified Kneser-Ney)",
    changes="P(word | previous n-1 words) from smoothed counts: the first statistical language model",
    presets=PRESETS,
    objective="counts",
    architecture="classic",
    load=load,
    options={"order": ORDER, "max_words": dict(
        type=int, help="ngram: count only the first sentences of the training split holding this many tokens "
        "(words and one </s> per sentence; the arena's equal-token budget) (default: all of them)")},
    config_class=NGramConfig,  # checks a preset before counting
))
