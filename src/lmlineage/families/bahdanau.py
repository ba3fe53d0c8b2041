"""Bahdanau attention (Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by Jointly
Learning to Align and Translate", ICLR).

The diff from the RNN encoder-decoder (``seq2seq``): the encoder is bidirectional, so each source
position j has an annotation h_j = [forward h_j; backward h_j] that summarises the words around
it (sec. 3.2), and the single context c becomes one per target step, c_i = sum_j alpha_ij h_j,
with the weights alpha_ij = softmax_j(v_a^T tanh(W_a s_{i-1} + U_a h_j)) learned jointly with
translation (sec. 3.1: additive "soft alignment"). The decoder's first state reads the backward
GRU at the first word (A.2.2). Same GRU sizes, readout and training as the parent; the weights
alpha are returned by every forward and drawn by ``lmlineage align``.
"""

from __future__ import annotations

from ..core.registry import Family, register
from ..classic.rnn_seq2seq import Seq2SeqConfig
from .seq2seq import PRESETS


def build(cfg):
    from ..classic.rnn_seq2seq import AdditiveAttention, RNNEncoderDecoder

    return RNNEncoderDecoder(cfg, context=AdditiveAttention, bidirectional=True)


FAMILY = register(Family(
    name="bahdanau",
    year=2015,
    parent="seq2seq",
    paper="Bahdanau, Cho & Bengio 2015, Neural Machine Translation by Jointly Learning to Align and Translate",
    changes="bidirectional encoder; additive attention gives each target step its own context c_i over the "
            "source annotations",
    presets=PRESETS,  # RNNsearch shares RNNencdec's sizes (sec. 4.2)
    objective="seq2seq_mle",
    default_tokenizer="bpe",
    architecture="encoder-decoder",
    build=build,
    config_class=Seq2SeqConfig,
))
