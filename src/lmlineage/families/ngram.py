"""The statistical n-gram language model (Shannon 1948; Jelinek & Mercer 1980; Kneser & Ney
1995; Chen & Goodman 1998's modified Kneser-Ney).

P(w | the previous n-1 words) from counts, smoothed so unseen n-grams keep some mass. It is
fitted by counting, not by gradient descent, so it brings its own ``fit`` and ``load``; its
checkpoints sit in the same run directories and answer the same ``eval``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..core.errors import UserError
from ..core.registry import Family, register

PRESETS = {
    "tiny": dict(order=3, method="mkn"),
    "small": dict(order=4, method="mkn"),
    "base": dict(order=5, method="mkn"),
    "kn": dict(order=3, method="kn"),
    "katz": dict(order=3, method="katz"),
}


class NGramCheckpoint:
    """A fitted model plus the eval/sample face every classic checkpoint shows."""

    def __init__(self, lm):
        self.lm = lm
        self.tokenizer = None

    def evaluate_text(self, text: str) -> dict:
        score = self.lm.score_text(text)
        return {"loss": score.nats_per_token, "nats": -score.log_prob, "tokens": score.tokens, "chars": score.chars}

    def sample_text(self, prompt: str = "", max_new_tokens: int | None = None, seed: int | None = None, **_) -> str:
        length = 30 if max_new_tokens is None else max_new_tokens
        return " ".join(self.lm.sample(1, max_len=length, seed=seed or 0, skip_unk=True)[0])


def fit(corpus: list[str], *, out: Path, preset: str = "tiny", seed: int = 0, progress: bool = True, **_):
    from ..classic.ngram import NGramLM
    from ..classic.text import sentences_from_text
    from ..data.corpora import split_text
    from ..train.checkpoint import atomic_directory

    if preset not in PRESETS:
        raise UserError(f"family 'ngram' has no preset {preset!r}", f"choose one of: {', '.join(PRESETS)}")
    train_text, val_text = split_text("\n".join(corpus))
    sentences = sentences_from_text(train_text)
    if not sentences or not val_text.strip():
        raise UserError("the corpus has too little text to fit an n-gram model and hold out 10%",
                        "give a larger corpus")
    lm = NGramLM.fit(sentences, **PRESETS[preset])
    with atomic_directory(Path(out) / "best") as tmp:
        lm.save(tmp)
        config = json.loads((tmp / "config.json").read_text())
        (tmp / "config.json").write_text(json.dumps({**config, "family": "ngram"}, indent=2) + "\n")
    return NGramCheckpoint(lm).evaluate_text(val_text)


def load(directory):
    from ..classic.ngram import NGramLM

    return NGramCheckpoint(NGramLM.load(directory))


register(Family(
    name="ngram",
    year=1948,
    parent=None,
    paper="Shannon 1948; Kneser & Ney 1995; Chen & Goodman 1998 (modified Kneser-Ney)",
    changes="P(word | previous n-1 words) from smoothed counts: the first statistical language model",
    presets=PRESETS,
    objective="counts",
    architecture="classic",
    fit=fit,
    load=load,
))
