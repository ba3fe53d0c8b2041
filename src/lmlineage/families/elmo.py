"""ELMo (Peters, Neumann, Iyyer, Gardner, Clark, Lee & Zettlemoyer 2018): a bidirectional LM whose
layers, mixed per task, are contextual word vectors.

From the NNLM it keeps the word-level softmax and learned token features, and changes three things:
tokens are read from their characters (a CNN with highway layers: no word is out of vocabulary on
the input side), the fixed n-1 word window becomes LSTMs over the whole sentence, run in both
directions with a joint loss, and the product is not the LM but its layers, combined by a learned
scalar mix (:class:`lmlineage.classic.elmo.ScalarMix`) into features for downstream tasks.

Trained by the shared trainer on the n-gram LM's split and tokens (:mod:`lmlineage.classic.word_lm`);
``eval`` reports the forward LM's perplexity (the one comparable with left-to-right models).
"""

from __future__ import annotations

from ..classic.elmo import ELMoConfig
from ..core.registry import Family, register

PRESETS = {
    "tiny": dict(d_model=32, cell=64, max_positions=32, char_dim=8, filters=[[1, 8], [2, 8], [3, 16]], max_chars=20),
    # dropout 0.1 as the paper's: without it 900 steps over 116k words overfit (held-out perplexity 176.80
    # against 160.03 with it; BENCHMARKS.md)
    "small": dict(d_model=128, cell=512, max_positions=64, dropout=0.1,
                  filters=[[1, 32], [2, 32], [3, 64], [4, 128], [5, 128]]),
    # the paper's model (Sec. 3.4; Jozefowicz et al. 2016's CNN-BIG-LSTM halved): 4096-unit cells projected
    # to 512, 2048 character filters, two highway layers
    "base": dict(d_model=512, cell=4096, max_positions=64, dropout=0.1,
                 filters=[[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]),
}


def build(cfg):
    from ..classic.elmo import ELMo

    return ELMo(cfg)


def load(directory):
    from ..classic.word_lm import load_word_lm

    return load_word_lm(directory)


register(Family(
    name="elmo",
    year=2018,
    parent="nnlm",
    paper="Peters et al. 2018, Deep contextualized word representations (NAACL)",
    changes="characters -> CNN + highway tokens; forward and backward LSTM LMs with a joint loss; layers mixed "
            "into contextual word vectors",
    presets=PRESETS,
    objective="bilm",
    default_tokenizer="word",
    architecture="classic",
    build=build,
    load=load,
    options={"min_count": dict(type=int, help="words seen fewer times become <unk> (elmo)")},
    config_class=ELMoConfig,
))
