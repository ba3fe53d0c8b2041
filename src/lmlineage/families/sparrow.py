"""Sparrow (Glaese et al. 2022, "Improving alignment of dialogue agents via targeted human
judgements").

Diff from its parent: the network is Chinchilla's (a GPT-3-style decoder, 70B; here a tiny
pre-RMSNorm decoder) prompted as a dialogue agent; what Sparrow adds sits around it (``rl.sparrow``):
rule-conditional reward models (one classifier per rule: no insults, on topic, no made-up
numbers), a preference reward model (Bradley-Terry), evidence retrieved for each question (BM25
over the built-in texts; Sparrow searched Google), and reranking of N sampled replies by
preference minus rule violations (section 2.5). `train sparrow` trains the policy on the generated
``sparrow-dialogues`` corpus, whose replies keep or break the rules.
"""

from ..core.registry import Family, register

SPARROW = register(Family(
    name="sparrow",
    year=2022,
    parent="gpt3",
    paper="Glaese et al. 2022, Improving alignment of dialogue agents via targeted human judgements",
    changes="a dialogue policy reranked by rule-violation classifiers (one per rule) and a preference reward "
            "model, with evidence retrieved by BM25",
    defaults=dict(norm=dict(kind="rmsnorm", eps=1e-6, placement="pre"), position=dict(kind="learned"),
                  mlp=dict(activation="gelu_tanh"), bias=False, embedding=dict(tie=True), dropout=0.0),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4), d_model=128, max_positions=128),
        # Chinchilla (Hoffmann et al. 2022, table 4): 80 layers, d_model 8192, 64 heads of 128.
        "chinchilla": dict(n_layer=80, attention=dict(n_head=64, head_dim=128), d_model=8192, max_positions=2048),
    },
    objective="clm+rules",
))
