"""The RNN encoder-decoder (Cho, van Merrienboer, Gulcehre, Bahdanau, Bougares, Schwenk & Bengio
2014, "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
Translation"; Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning with Neural Networks").

A neural language model of the target, conditioned on the source: a GRU reads the source into
one fixed-length vector c = tanh(V h_N), and a GRU decoder predicts the target one token at a
time from its state, the previous token and c (:mod:`lmlineage.classic.rnn_seq2seq`). Trained
by maximum likelihood with teacher forcing (each step reads the reference's previous token);
decoded greedily or with beam search through the one generation engine. Every source, however
long, must pass through c: the bottleneck Bahdanau attention removes (``bahdanau``).
"""

from __future__ import annotations

from ..classic.rnn_seq2seq import Seq2SeqConfig
from ..core.registry import Family, register

PRESETS = {
    "tiny": dict(hidden=64, embed_dim=32, readout=64),
    "small": dict(hidden=256, embed_dim=128, readout=256),
    # Bahdanau et al. 2015 sec. 4.2 and A.2 (their RNNencdec baseline): 1000 GRU units, 620-dim
    # word embeddings, a maxout readout of 500 units, 30,000 words per language
    "base": dict(hidden=1000, embed_dim=620, readout=500, vocab_size=30000),
}


def build(cfg):
    from ..classic.rnn_seq2seq import FixedContext, RNNEncoderDecoder

    return RNNEncoderDecoder(cfg, context=FixedContext, bidirectional=False)


FAMILY = register(Family(
    name="seq2seq",
    year=2014,
    parent="nnlm",
    paper="Cho et al. 2014, Learning Phrase Representations using RNN Encoder-Decoder; Sutskever et al. 2014, "
          "Sequence to Sequence Learning with Neural Networks",
    changes="a GRU encodes the source into one fixed vector c; a GRU decoder is a neural LM of the target "
            "conditioned on c",
    presets=PRESETS,
    objective="seq2seq_mle",
    default_tokenizer="bpe",
    architecture="encoder-decoder",
    build=build,
    config_class=Seq2SeqConfig,
))
