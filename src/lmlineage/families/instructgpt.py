"""InstructGPT (Ouyang et al. 2022, "Training language models to follow instructions with human
feedback").

Diff from GPT-3: no change to the network; three stages after pre-training (section 3.5, figure 2):
supervised fine-tuning on demonstrations (SFT), a reward model (the SFT model with a scalar head,
trained on K-way rankings with the loss over all C(K,2) pairs, equation 1), and PPO against that
reward with a per-token KL penalty to the SFT policy and the pre-training gradients mixed in
(PPO-ptx, equation 2). The sizes are GPT-3's 1.3B, 6B and 175B. `lmlineage train instructgpt`
pre-trains the base the stages start from; `lmlineage finetune` runs SFT and `lmlineage rlhf` the
reward model and PPO (``rl/stages.py``).
"""

from ..core.registry import Family, register
from .gpt3 import GPT3

INSTRUCTGPT = register(Family(
    name="instructgpt",
    year=2022,
    parent="gpt3",
    paper="Ouyang et al. 2022, Training language models to follow instructions with human feedback",
    changes="SFT on demonstrations, a reward model from K-way rankings, PPO-ptx against it with a per-token KL "
            "penalty to the SFT policy (same network)",
    defaults=GPT3.defaults,
    presets={name: GPT3.presets[name] for name in ("tiny", "small", "1.3b", "6.7b", "175b")},
    objective="clm",
))
