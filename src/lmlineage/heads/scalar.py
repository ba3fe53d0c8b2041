"""A scalar per position: the value (critic) head of RL fine-tuning, V(s_t) for every prefix
(Schulman et al. 2017; InstructGPT's PPO). A reward model reads the same kind of output at a
sequence's last real token; which position counts is the task's choice, not the head's."""

from torch import nn


class ScalarHead(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, hidden):
        return self.score(hidden).squeeze(-1)  # (B, T, d) -> (B, T)
