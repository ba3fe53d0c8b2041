"""Noise schedules: how much noise the forward process adds at each of T steps.

q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), abar_t = prod_{s<=t} (1 - beta_s) (Ho et al.
2020, eq. 4). ``linear``: beta from 1e-4 to 0.02 (Ho et al., section 4); ``scaled_linear``: linear
in sqrt(beta) (Rombach et al. 2022's latent models); ``cosine``: abar_t = f(t)/f(0),
f(t) = cos((t/T + s)/(1 + s) * pi/2)^2 with s = 0.008 and beta clipped at 0.999 (Nichol & Dhariwal
2021, eq. 17). Computed as diffusers' schedulers compute them, so the same steps give the same
numbers.

What the network predicts (``prediction``): the noise (``epsilon``, Ho et al.), the velocity
v = sqrt(abar) eps - sqrt(1 - abar) x_0 (``v_prediction``, Salimans & Ho 2022, section 4) or the
clean sample (``sample``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.errors import UserError

KINDS = ("linear", "scaled_linear", "cosine")
PREDICTIONS = ("epsilon", "v_prediction", "sample")


def betas(kind: str, steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, steps, dtype=torch.float32)
    if kind == "scaled_linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=torch.float32) ** 2
    if kind == "cosine":
        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return torch.tensor([min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999)
                             for i in range(steps)], dtype=torch.float32)
    raise UserError(f"unknown noise schedule {kind!r}", f"choose one of: {', '.join(KINDS)}")


@dataclass
class NoiseSchedule:
    """The forward process of ``steps`` steps and what the network is trained to predict."""

    kind: str = "cosine"
    steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    prediction: str = "epsilon"

    def __post_init__(self):
        if self.prediction not in PREDICTIONS:
            raise UserError(f"unknown prediction {self.prediction!r}", f"choose one of: {', '.join(PREDICTIONS)}")
        if self.steps < 1:
            raise UserError(f"a noise schedule needs >= 1 step, got {self.steps}")
        self.betas = betas(self.kind, self.steps, self.beta_start, self.beta_end)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)

    def _coefficients(self, t: torch.Tensor, like: torch.Tensor):
        abar = self.alphas_cumprod.to(like.device)[t].to(like.dtype)
        shape = (-1,) + (1,) * (like.dim() - 1)
        return abar.sqrt().reshape(shape), (1 - abar).sqrt().reshape(shape)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
        signal, sigma = self._coefficients(t, x0)
        return signal * x0 + sigma * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network should output at x_t: eps, v or x_0 (``prediction``)."""
        if self.prediction == "epsilon":
            return noise
        if self.prediction == "sample":
            return x0
        signal, sigma = self._coefficients(t, x0)
        return signal * noise - sigma * x0

    def random_steps(self, n: int, generator=None, device=None) -> torch.Tensor:
        return torch.randint(0, self.steps, (n,), generator=generator, device=device)
