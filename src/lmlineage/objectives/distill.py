"""Knowledge distillation as DistilBERT trains (Sanh et al. 2019, section 2; Hinton et al. 2015).

The student learns from the teacher's soft targets, "a distillation loss over the soft target
probabilities of the teacher: L_ce = sum_i t_i * log(s_i)", both softmaxes at a temperature T,
the loss scaled by T^2 so its gradients keep their size as T changes (Hinton et al. section 2);
plus the masked LM, plus "a cosine embedding loss (L_cos) which will tend to align the
directions of the student and teacher hidden states vectors". The paper gives no weights; the
defaults are the released training command's (alpha_ce 5, alpha_mlm 2, alpha_cos 1, T = 2),
with L_ce and L_cos over every real token as there. Parameter-free: it scores outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class Distillation:
    temperature: float = 2.0
    alpha_ce: float = 5.0
    alpha_mlm: float = 2.0
    alpha_cos: float = 1.0

    def __post_init__(self):
        if not self.temperature > 0 or min(self.alpha_ce, self.alpha_mlm, self.alpha_cos) < 0:
            raise ValueError("the temperature must be > 0 and the loss weights >= 0")

    def soft_target_loss(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the student's tempered distribution against the teacher's, times T^2,
        averaged over positions: logits (N, V)."""
        t = self.temperature
        targets = torch.softmax(teacher_logits.float() / t, dim=-1)
        return -(targets * torch.log_softmax(student_logits.float() / t, dim=-1)).sum(-1).mean() * t * t

    @staticmethod
    def cosine_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """1 - cos(student, teacher), averaged over positions: hidden states (N, D)."""
        return (1 - F.cosine_similarity(student_hidden.float(), teacher_hidden.float(), dim=-1)).mean()

    def loss(self, mlm_loss, student_logits, teacher_logits, student_hidden, teacher_hidden) -> torch.Tensor:
        """alpha_ce * L_ce + alpha_mlm * L_mlm + alpha_cos * L_cos."""
        return (self.alpha_ce * self.soft_target_loss(student_logits, teacher_logits)
                + self.alpha_mlm * mlm_loss + self.alpha_cos * self.cosine_loss(student_hidden, teacher_hidden))
