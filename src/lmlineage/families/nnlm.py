"""NNLM (Bengio, Ducharme, Vincent & Jauvin 2003): the n-gram's context as learned word features.

Where the n-gram LM counts the previous n-1 words, the NNLM looks each one up in a shared feature
matrix C, concatenates them, and scores every word of the vocabulary with a tanh hidden layer
(plus optional direct input-to-output connections), normalised by a softmax. Similar words get
similar features, so an unseen n-gram borrows from seen ones: the generalisation counts lack.

Word-level, trained by the shared trainer on the n-gram LM's split and tokens
(:mod:`lmlineage.classic.word_lm`), so its perplexity compares with ``ngram``'s directly;
:func:`lmlineage.classic.word_lm.cross_fitted_mixture` interpolates it with the n-gram, as the
paper does (``benchmarks/nnlm_vs_ngram.py``).
"""

from __future__ import annotations

from ..classic.nnlm import NNLMConfig
from ..core.registry import Family, register
from .ngram import ORDER

# Sizes around the paper's Table 1 (Brown corpus: n 3-6, h 0-100, m 30-60); window = training context.
PRESETS = {
    "tiny": dict(embed_dim=32, hidden=64, max_positions=32, order=4),
    "small": dict(embed_dim=60, hidden=100, max_positions=64, order=5),
    "base": dict(embed_dim=100, hidden=200, max_positions=64, order=6, direct=True),
}

OPTIONS = {
    "order": ORDER,
    "direct": dict(action="store_true", help="nnlm: direct connections from the input features to the output"),
    "min_count": dict(type=int, help="words seen fewer times are dropped (word2vec) or become <unk> "
                      "(nnlm, elmo; default 2)"),
}


def build(cfg):
    from ..classic.nnlm import NNLM

    return NNLM(cfg)


def load(directory):
    from ..classic.word_lm import load_word_lm

    return load_word_lm(directory)


register(Family(
    name="nnlm",
    year=2003,
    parent="ngram",
    paper="Bengio, Ducharme, Vincent & Jauvin 2003, A Neural Probabilistic Language Model (JMLR)",
    changes="the n-1 context words as learned feature vectors (shared matrix C), a tanh layer and a softmax",
    presets=PRESETS,
    objective="word_clm",
    default_tokenizer="word",
    architecture="classic",
    build=build,
    load=load,
    options=OPTIONS,
    config_class=NNLMConfig,
))
