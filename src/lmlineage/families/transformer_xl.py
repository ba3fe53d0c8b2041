"""Transformer-XL (Dai et al. 2019, "Transformer-XL: Attentive Language Models Beyond a
Fixed-Length Context").

Diff from the Transformer (Vaswani et al. 2017), whose post-LN blocks, ReLU feed-forward layers,
sinusoids and sqrt(d_model)-scaled tied embeddings it keeps: a decoder-only language model whose
segments recur (section 3.2): each layer also attends to the cached, gradient-stopped states of
the previous segment (``core.cache.XLMemory``, ``mem_len`` tokens), and positions are relative
(section 3.3): no table is added to the embeddings; each score adds a content-dependent and a
global position term over sinusoids of i - j, plus a global content bias
(``layers/relative_attention.py``, the shared attention's ``score_mod`` hook). Trained as a
causal LM over windows of several segments; `eval` reads the held-out text as long streams,
segment by segment with the memory (``tasks/recurrent_lm.py``). The released code's q/k/v
projections have no bias; its adaptive softmax is left out (a plain tied output layer).

Parent: the Transformer, not GPT: its blocks (post-LN, ReLU, fixed sinusoids, scaled embeddings)
are the Transformer's and the vanilla character-level Transformer LM it extends (Al-Rfou et al.
2018) is one; GPT's learned positions and GELU are not in it.
"""

from ..core.registry import Family, register
from ..models.recurrent import MemoryConfig, SegmentRecurrentLM

MEM_LEN_OPTION = {"mem_len": dict(type=int, help="transformer-xl, xlnet: the tokens of memory each "
                                  "layer keeps from the segments before (default: the preset's; 0: none)")}


register(Family(
    name="transformer-xl",
    year=2019,
    parent="transformer",
    paper="Dai et al. 2019, Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context",
    changes="decoder-only LM with segment-level recurrence (a gradient-stopped memory of the previous segment) "
            "and relative sinusoidal attention with global biases u, v",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-5, placement="post", final=False),
                  position=dict(kind="xl_relative"), mlp=dict(activation="relu", kind="mlp"), bias=True,
                  attention=dict(qkv_bias=False), embedding=dict(scale=True, tie=True, head_bias=True),
                  dropout=0.1, vocab_size=267735),
    presets={
        # windows of 4 segments: each of the last three reads the memory of the one before
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, mlp=dict(d_ff=512), max_positions=128,
                     segment=32, mem_len=32, dropout=0.0),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, mlp=dict(d_ff=1536), max_positions=256,
                      segment=64, mem_len=64),
        # the paper's WikiText-103 base model (151M with its adaptive softmax), table 1 and appendix
        "base": dict(n_layer=16, attention=dict(n_head=10), d_model=410, mlp=dict(d_ff=2100), max_positions=150,
                     segment=150, mem_len=150),
    },
    objective="clm+memory",
    options=MEM_LEN_OPTION,
    build=SegmentRecurrentLM,
    config_class=MemoryConfig,
))
