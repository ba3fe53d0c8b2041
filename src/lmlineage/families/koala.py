"""Koala (Geng et al. 2023, "Koala: A Dialogue Model for Academic Research", BAIR blog).

Diff from LLaMA: no change to the network; supervised fine-tuning on a mixture of dialogue sources
(ShareGPT, HC3, OIG, Alpaca, Anthropic HH, WebGPT, summarisation), with each conversation's source
marked in its prompt so the model can be asked for one source's style. `lmlineage finetune CKPT
--data a.jsonl:WEIGHT,b.jsonl:WEIGHT` mixes the sources by weight and marks each
(``data/conversations.read_mixture``); `lmlineage train koala` pre-trains the base.
"""

from ..core.registry import Family, register
from .llama import LLAMA

register(Family(
    name="koala",
    year=2023,
    parent="llama",
    paper="Geng et al. 2023, Koala: A Dialogue Model for Academic Research",
    changes="dialogue SFT on a weighted mixture of sources, each conversation's source marked in its prompt",
    defaults=LLAMA.defaults,
    presets={name: LLAMA.presets[name] for name in ("tiny", "small", "7b")},
    objective="clm",
))
