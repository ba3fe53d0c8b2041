"""word2vec (Mikolov et al. 2013a, 2013b): CBOW and skip-gram word vectors.

Not a language model: it learns one vector per word by predicting a word from its window (CBOW) or
the window from the word (skip-gram), with negative sampling or a Huffman-tree softmax. It has a
fast path of its own (:mod:`lmlineage.classic.word2vec`), so it brings ``fit`` and ``load``; its
checkpoint directory holds the weights (``model.safetensors``), the vocabulary and hyperparameters
(``config.json``) and the vectors in the word2vec binary format (``vectors.bin``, which gensim's
``KeyedVectors.load_word2vec_format(..., binary=True)`` reads).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..core.registry import Family, register

# The released tool's defaults (2013b) at three widths; epochs raised for small corpora.
PRESETS = {
    "tiny": dict(arch="skipgram", dim=50, window=5, negative=5, hs=False, sample=1e-3, min_count=5, epochs=5),
    "small": dict(arch="skipgram", dim=100, window=5, negative=5, hs=False, sample=1e-3, min_count=5, epochs=5),
    "base": dict(arch="skipgram", dim=300, window=5, negative=5, hs=False, sample=1e-3, min_count=5, epochs=5),
}

# `lmlineage train word2vec --arch cbow --hs ...`: these override the preset's values.
OPTIONS = {
    "arch": dict(choices=["cbow", "skipgram"], help="word2vec: cbow or skipgram"),
    "dim": dict(type=int, help="word2vec: vector size"),
    "window": dict(type=int, help="word2vec: largest context window (shrunk at random per word)"),
    "negative": dict(type=int, help="word2vec: noise words per pair (0: no negative sampling)"),
    "hs": dict(action="store_true", help="word2vec: hierarchical softmax over a Huffman tree"),
    "min_count": dict(type=int, help="word2vec: words seen fewer times are dropped"),
    "sample": dict(type=float, help="word2vec: subsampling threshold (0: off)"),
    "epochs": dict(type=int, help="word2vec: passes over the corpus"),
}


class Word2VecCheckpoint:
    """A trained model as the CLI sees it: neighbours and text vectors, no likelihood."""

    def __init__(self, model):
        self.model = model
        self.vectors = model.vectors

    def most_similar(self, positive, negative=(), topn: int = 10):
        return self.vectors.most_similar(positive, negative, topn=topn)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Per text, the L2-normalised mean of its in-vocabulary words' unit vectors (zeros if none)."""
        from ..classic.text import words_from_line

        out = np.zeros((len(texts), self.vectors.dim), np.float32)
        for row, text in enumerate(texts):
            known = [w for w in words_from_line(text) if w in self.vectors]
            if known:
                mean = np.mean([self.vectors.unit(w) for w in known], axis=0)
                out[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return out

    def evaluate_text(self, text: str) -> dict:
        raise UserError("word2vec learns word vectors, not a language model: it has no perplexity",
                        "query it with `lmlineage similar CHECKPOINT WORD` or evaluate analogies in Python")

    def sample_text(self, *_, **__):
        raise UserError("word2vec does not generate text", "query it with `lmlineage similar CHECKPOINT WORD`")


def fit(corpus: list[str], *, out: Path, preset: str = "tiny", seed: int = 0, progress: bool = True,
        device: str = "cpu", **options):
    from ..classic.text import sentences_from_text
    from ..classic.word2vec import Word2Vec
    from ..train.checkpoint import atomic_directory

    if preset not in PRESETS:
        raise UserError(f"family 'word2vec' has no preset {preset!r}", f"choose one of: {', '.join(PRESETS)}")
    settings = {**PRESETS[preset], **{k: v for k, v in options.items() if k in OPTIONS and v is not None}}
    if settings["hs"] and "negative" not in options:
        settings["negative"] = 0  # --hs alone: the Huffman softmax instead of negative sampling
    sentences = sentences_from_text("\n".join(corpus))
    if not sentences:
        raise UserError("the corpus has no words to train word2vec on", "give a text corpus")
    model = Word2Vec.train(sentences, seed=seed % 2**31, progress=progress, device=device, **settings)
    with atomic_directory(Path(out) / "best") as tmp:
        model.save(tmp)
        model.vectors.save_word2vec_format(tmp / "vectors.bin", binary=True)
    probe = next((w for w in model.words if len(w) > 3), model.words[0])
    neighbours = ", ".join(w for w, _ in model.vectors.most_similar(probe, topn=5))
    return {"summary": f"{len(model.words)} words x {model.config.dim} ({model.config.arch}, "
                       f"{model.stats.words_per_second:,.0f} words/s) | nearest to {probe!r}: {neighbours}"}


def load(directory):
    from ..classic.word2vec import Word2Vec

    return Word2VecCheckpoint(Word2Vec.load(directory))


register(Family(
    name="word2vec",
    year=2013,
    parent="nnlm",
    paper="Mikolov et al. 2013a (CBOW, skip-gram); 2013b (negative sampling, subsampling)",
    changes="drops the NNLM's hidden layer and full softmax: log-linear window models that learn word vectors",
    presets=PRESETS,
    objective="word2vec",
    architecture="classic",
    fit=fit,
    load=load,
    options=OPTIONS,
))
