"""GPT-3 (Brown et al. 2020, "Language Models are Few-Shot Learners").

Diff from GPT-2, section 2.1: "the same model and architecture as GPT-2 ... with the exception
that we use alternating dense and locally banded sparse attention patterns in the layers of the
transformer, similar to the Sparse Transformer" (Child et al. 2019); a 2048-token context for every
size; d_ff = 4 d. The band's width is not stated: 256 here, as in GPT-Neo's local layers (the open
replication). Which of a pair comes first is not stated either: layer 0 is dense.
No reference implementation exists: with every layer dense it is GPT-2 (tests hold it to that).
"""

from ..core.registry import Family, register

BIG = dict(max_positions=2048)  # the paper's sizes, table 2.1 (d_head as stated there)

GPT3 = register(Family(
    name="gpt3",
    year=2020,
    parent="gpt2",
    paper="Brown et al. 2020, Language Models are Few-Shot Learners",
    changes="alternating dense and locally banded sparse attention layers, 2048-token context",
    defaults=dict(norm=dict(kind="layernorm", placement="pre"), position=dict(kind="learned"),
                  mlp=dict(activation="gelu_tanh"), bias=True, embedding=dict(tie=True), vocab_size=50257,
                  attention=dict(pattern=["dense", "local"], window=256)),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4, window=16), d_model=128, max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6, window=64), d_model=384, max_positions=256),
        "125m": dict(n_layer=12, attention=dict(n_head=12), d_model=768, **BIG),
        "350m": dict(n_layer=24, attention=dict(n_head=16), d_model=1024, **BIG),
        "760m": dict(n_layer=24, attention=dict(n_head=16, head_dim=96), d_model=1536, **BIG),
        "1.3b": dict(n_layer=24, attention=dict(n_head=24, head_dim=128), d_model=2048, **BIG),
        "2.7b": dict(n_layer=32, attention=dict(n_head=32, head_dim=80), d_model=2560, **BIG),
        "6.7b": dict(n_layer=32, attention=dict(n_head=32, head_dim=128), d_model=4096, **BIG),
        "13b": dict(n_layer=40, attention=dict(n_head=40, head_dim=128), d_model=5140, **BIG),
        "175b": dict(n_layer=96, attention=dict(n_head=96, head_dim=128), d_model=12288, **BIG),
    },
    objective="clm",
))
