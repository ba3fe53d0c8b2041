"""word2vec (Mikolov et al. 2013a, 2013b): CBOW and skip-gram word vectors.

Not a language model: it learns one vector per word by predicting a word from its window (CBOW) or
the window from the word (skip-gram), with negative sampling or a Huffman-tree softmax. It has a
fast path of its own (:mod:`lmlineage.classic.word2vec`), fitted in one pass by its task; its
checkpoint directory holds the weights (``model.safetensors``), the vocabulary and hyperparameters
(``config.json``) and the vectors in the word2vec binary format (``vectors.bin``, which gensim's
``KeyedVectors.load_word2vec_format(..., binary=True)`` reads).
"""

from __future__ import annotations

from ..classic.word2vec import Word2VecConfig
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


def load(directory):
    from ..classic.word2vec import load_checkpoint

    return load_checkpoint(directory)


register(Family(
    name="word2vec",
    year=2013,
    parent="nnlm",
    paper="Mikolov et al. 2013a (CBOW, skip-gram); 2013b (negative sampling, subsampling)",
    changes="drops the NNLM's hidden layer and full softmax: log-linear window models that learn word vectors",
    presets=PRESETS,
    objective="word2vec",
    architecture="classic",
    load=load,
    config_class=Word2VecConfig,  # checks a preset before training
    options=OPTIONS,
))
