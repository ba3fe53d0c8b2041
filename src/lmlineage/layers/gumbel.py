"""The Gumbel-softmax relaxation of a categorical draw (Jang et al. 2017; Maddison et al. 2017), as
DALL-E's discrete VAE trains through its codebook choice (Ramesh et al. 2021, section 2.1): the
softmax of (logits + Gumbel noise) / tau, which tends to a one-hot draw as tau -> 0; ``hard``: the
one-hot of its argmax forward, the soft sample's gradient backward (the straight-through estimator)."""

from __future__ import annotations

import math

import torch


def gumbel_noise(shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """-log(-log U), U ~ uniform(0, 1), kept away from 0 and 1 so the logs stay finite."""
    u = torch.rand(shape, generator=generator, device=device).clamp(1e-10, 1 - 1e-7)
    return -torch.log(-torch.log(u))


def gumbel_softmax(logits: torch.Tensor, temperature: float, hard: bool = False, dim: int = -1,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A relaxed one-hot sample over ``dim`` of categorical(softmax(logits))."""
    if temperature <= 0:
        raise ValueError(f"temperature {temperature} must be positive")
    noisy = (logits.float() + gumbel_noise(logits.shape, generator, logits.device)) / temperature
    soft = noisy.softmax(dim).to(logits.dtype)
    if not hard:
        return soft
    one_hot = torch.zeros_like(soft).scatter_(dim, soft.argmax(dim, keepdim=True), 1.0)
    return one_hot - soft.detach() + soft  # the one-hot's value, the soft sample's gradient


def annealed_temperature(step: int, steps: int, start: float, end: float) -> float:
    """Geometric decay from ``start`` at step 0 to ``end`` at ``steps`` (held there after): DALL-E
    anneals tau from 1 to 1/16 (section 2.1, appendix A.2; theirs is an exponential schedule too)."""
    if steps <= 0 or step >= steps:
        return end
    return start * math.exp(math.log(end / start) * step / steps)
