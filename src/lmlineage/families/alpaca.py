"""Alpaca (Taori et al. 2023, "Alpaca: A Strong, Replicable Instruction-Following Model", Stanford
CRFM blog; the data method is self-instruct, Wang et al. 2023).

Diff from LLaMA: no change to the network; supervised fine-tuning on 52K instruction-following
tasks that a stronger model (text-davinci-003) generated from 175 human-written seed tasks, each
proposal kept only when its instruction is novel (ROUGE-L <= 0.7 against all kept) and passes
simple filters. `lmlineage self-instruct --generator PATH` makes such data
(``data/self_instruct.py``), `lmlineage finetune MODEL --data instructions.jsonl` trains the
student on it; `lmlineage train alpaca` pre-trains the base.
"""

from ..core.registry import Family, register
from .llama import LLAMA

register(Family(
    name="alpaca",
    year=2023,
    parent="llama",
    paper="Taori et al. 2023, Alpaca: A Strong, Replicable Instruction-Following Model",
    changes="SFT on self-instruct data: a generator proposes tasks from seed tasks, kept when ROUGE-L novel "
            "and past simple filters",
    defaults=LLAMA.defaults,
    presets={name: LLAMA.presets[name] for name in ("tiny", "small", "7b")},
    objective="clm",
))
