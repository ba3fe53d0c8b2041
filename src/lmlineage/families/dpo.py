"""DPO (Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is Secretly a
Reward Model").

Diff from InstructGPT: no reward model and no RL. The policy's log-ratio to the SFT (reference)
model is the reward, so the Bradley-Terry likelihood of the preference pairs is maximised directly
(equation 7, ``rl/losses.dpo_loss``), on the same preference data. A method over any decoder: the
presets are InstructGPT's; `lmlineage rlhf --method dpo` runs it (``rl/stages.py``).
"""

from ..core.registry import Family, register
from .instructgpt import INSTRUCTGPT

register(Family(
    name="dpo",
    year=2023,
    parent="instructgpt",
    paper="Rafailov et al. 2023, Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
    changes="drops the reward model and PPO: a logistic loss on preference pairs of the policy's log-ratio to "
            "the SFT model",
    defaults=INSTRUCTGPT.defaults,
    presets={name: INSTRUCTGPT.presets[name] for name in ("tiny", "small")},
    objective="clm",
))
