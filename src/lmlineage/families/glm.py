"""GLM (Du et al. 2022, "GLM: General Language Model Pretraining with Autoregressive Blank
Infilling"; arXiv 2021). The GLM-4 architecture is the separate family ``glm4``.

Diff from GPT-2, section 2: pre-trained by autoregressive blank infilling (the
``blank_infilling`` objective: spans blanked out of Part A, regenerated as Part B in a random
order); Part A attends both ways, Part B left to right (a prefix mask, passed per example); 2-D
positions: two learned tables, the position in the corrupted text and the position inside a
span (section 2.2.2). The Transformer itself (section 2.3): pre-LN (layer norm and residual
rearranged as in Megatron-LM), one linear output layer tied to the input embedding, GeLU.
Sizes: GLM-Base and GLM-Large as BERT's (section 3.1), with BERT's WordPiece vocabulary.
No reference implementation is in `transformers`: tests check the 2-D positions and the mask on
hand-made examples, and that without blanks the model is GPT-2.
"""

from ..core.registry import Family, register

register(Family(
    name="glm",
    year=2021,
    parent="gpt2",
    paper="Du et al. 2022, GLM: General Language Model Pretraining with Autoregressive Blank Infilling",
    changes="autoregressive blank infilling; Part A bidirectional, Part B causal; 2-D positions",
    defaults=dict(norm=dict(kind="layernorm", placement="pre"), position=dict(kind="learned_2d"),
                  mlp=dict(activation="gelu"), bias=True, embedding=dict(tie=True), vocab_size=30522,
                  max_positions=512),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6), d_model=384, max_positions=256),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768),  # GLM-Base, 110M
        "large": dict(n_layer=24, attention=dict(n_head=16), d_model=1024),  # GLM-Large, 335M
    },
    objective="blank_infilling",
    default_tokenizer="wordpiece",
))
