"""The losses of learning from preferences, each as its paper states it; parameter-free.

- ``ranking_loss``: InstructGPT's reward-model loss (Ouyang et al. 2022, equation 1): for each
  prompt, -1/C(K,2) * sum over the pairs (better, worse) of its K-way ranking of
  log sigmoid(r(better) - r(worse)), all pairs of one prompt in one batch element (section 3.5:
  "we train on all C(K,2) comparisons from each prompt as a single batch element").
- ``dpo_loss``: DPO (Rafailov et al. 2023, equation 7): -log sigmoid(beta * ((log pi(y_w) - log
  ref(y_w)) - (log pi(y_l) - log ref(y_l)))).
- ``gae``, ``ppo_policy_loss``, ``ppo_value_loss``: PPO (Schulman et al. 2017, equations 7, 9 and
  11-12): generalised advantage estimation, the clipped surrogate, and a clipped value loss (as
  the OpenAI baselines and trl's PPO clip the value to the old one +- epsilon).
- ``kl_penalised_rewards``: InstructGPT's reward (equation 2): the reward model's score at the
  last token, minus beta * (log pi_RL - log pi_SFT) at every token.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..core.errors import UserError


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(targets[t]) under ``logits[t]`` (B, T, V), (B, T) -> (B, T)."""
    return torch.gather(F.log_softmax(logits.float(), -1), -1, targets[..., None]).squeeze(-1)


def ranking_pairs(ranks: torch.Tensor) -> torch.Tensor:
    """(B, K) ranks (0 = best; equal ranks are ties) -> (B, K, K) bool: i is ranked above j."""
    return ranks[:, :, None] < ranks[:, None, :]


def ranking_loss(scores: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
    """InstructGPT's equation 1 over (B, K) scores and ranks; tied pairs carry no loss."""
    above = ranking_pairs(ranks)
    pairs = above.sum((1, 2))
    if bool((pairs == 0).any()):
        raise UserError("a ranking with ties only has no pair to learn from", "rank at least two replies differently")
    margins = scores[:, :, None] - scores[:, None, :]
    per_prompt = -(F.logsigmoid(margins) * above).sum((1, 2)) / pairs
    return per_prompt.mean()


def pairwise_accuracy(scores: torch.Tensor, ranks: torch.Tensor) -> tuple[int, int]:
    """(pairs the scores order as the ranking does, pairs)."""
    above = ranking_pairs(ranks)
    right = (scores[:, :, None] > scores[:, None, :]) & above
    return int(right.sum()), int(above.sum())


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float = 0.1):
    """(mean loss, chosen rewards, rejected rewards) from summed sequence log-probabilities (B,);
    a reward is beta times the log-ratio to the reference (DPO's implicit reward, section 5)."""
    chosen = beta * (policy_chosen - reference_chosen)
    rejected = beta * (policy_rejected - reference_rejected)
    return -F.logsigmoid(chosen - rejected).mean(), chosen.detach(), rejected.detach()


def kl_penalised_rewards(scores: torch.Tensor, logprobs: torch.Tensor, reference_logprobs: torch.Tensor,
                         mask: torch.Tensor, kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-token rewards (B, T), per-token KL estimate (B, T)): -kl_coef * (log pi - log pi_SFT) at
    each generated token, plus the sequence's score at its last one."""
    kl = (logprobs - reference_logprobs) * mask
    rewards = -kl_coef * kl
    last = mask.shape[1] - 1 - mask.flip(1).float().argmax(1)  # each row's last generated token
    rewards[torch.arange(len(scores)), last] += scores
    return rewards * mask, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95):
    """(advantages, returns), each (B, T): A_t = sum_l (gamma lam)^l delta_{t+l}, delta_t = r_t +
    gamma V_{t+1} - V_t, with V = 0 after the last generated token; returns = A + V."""
    values = values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        running = running * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Zero mean (unless not ``shift_mean``), unit variance over the masked entries."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out if shift_mean else out + mean) * mask


def ppo_policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                    mask: torch.Tensor, clip: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, clip fraction): the negative clipped surrogate, -min(ratio A, clip(ratio, 1 +- eps) A),
    averaged over generated tokens."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    return loss, masked_mean((clipped > unclipped).float(), mask)


def ppo_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                   clip: float = 0.2) -> torch.Tensor:
    """0.5 * max((V - R)^2, (clip(V, V_old +- eps) - R)^2), averaged over generated tokens."""
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return 0.5 * masked_mean(torch.max((values - returns) ** 2, (clipped - returns) ** 2), mask)
