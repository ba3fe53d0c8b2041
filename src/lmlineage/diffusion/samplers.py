"""The reverse process: one denoising step at a time, from pure noise to a sample.

- DDPM (Ho et al. 2020, eq. 6-7): x_{t-1} drawn from the posterior q(x_{t-1} | x_t, x_0) with the
  predicted x_0 put in, variance beta~_t (the "fixed small" choice, section 3.2);
- DDIM (Song et al. 2021, eq. 12): x_{t-1} = sqrt(abar_prev) x_0 + sqrt(1 - abar_prev - sigma^2) eps
  + sigma z, sigma = eta * sqrt(beta~); eta = 0 is deterministic and may skip steps.

Either samples on ``n`` of the T training steps, spaced as diffusers' "leading" spacing spaces
them (t = k * (T // n), k = n-1 .. 0), with the predicted x_0 clipped to [-1, 1] (``clip``) or
dynamically thresholded (Saharia et al. 2022, section 2.3: ``threshold``). Classifier-free
guidance (Ho & Salimans 2021, eq. 6) mixes a conditional and an unconditional prediction:
eps~ = eps_uncond + w (eps_cond - eps_uncond). The arithmetic follows diffusers' DDPMScheduler and
DDIMScheduler step by step, so the same noise and network output give the same next sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..core.errors import UserError
from .schedules import NoiseSchedule

SAMPLERS = ("ddpm", "ddim")


def spaced_steps(train_steps: int, steps: int) -> list[int]:
    """The training steps sampled on, last first ("leading" spacing)."""
    if not isinstance(steps, int) or steps < 1:
        raise UserError(f"sampling steps must be a positive integer, got {steps}", "give --steps 1 or more")
    if steps > train_steps:
        raise UserError(f"{steps} sampling steps exceed the {train_steps} the model was trained with",
                        f"give --steps {train_steps} or fewer")
    ratio = train_steps // steps
    return [k * ratio for k in reversed(range(steps))]


def dynamic_threshold(x0: torch.Tensor, percentile: float = 0.995, max_value: float = 1.0) -> torch.Tensor:
    """Clip x_0 at s, the ``percentile`` of its absolute values per sample (at least 1, at most
    ``max_value``), and divide by s (Imagen, Saharia et al. 2022, section 2.3)."""
    dtype = x0.dtype
    flat = x0.float().reshape(x0.shape[0], -1)
    s = torch.quantile(flat.abs(), percentile, dim=1).clamp(min=1, max=max_value).unsqueeze(1)
    return (flat.clamp(-s, s) / s).reshape(x0.shape).to(dtype)


@dataclass
class Step:
    """What one reverse step needs beyond the network: the clipping of the predicted x_0."""

    schedule: NoiseSchedule
    steps: int  # the sampling steps (n of the T)
    clip: float | None = 1.0  # clip x_0 to [-clip, clip]; None: no clipping
    threshold: float | None = None  # dynamic thresholding at this percentile (replaces clip)
    threshold_max: float = 1.0

    @property
    def ratio(self) -> int:
        return self.schedule.steps // self.steps

    def _abar(self, t: int, final: torch.Tensor | float):
        abar = self.schedule.alphas_cumprod
        return abar[t], (abar[t - self.ratio] if t - self.ratio >= 0 else final)

    def _x0(self, output: torch.Tensor, t_abar, sample: torch.Tensor) -> torch.Tensor:
        beta = 1 - t_abar
        prediction = self.schedule.prediction
        if prediction == "epsilon":
            x0 = (sample - beta ** 0.5 * output) / t_abar ** 0.5
        elif prediction == "sample":
            x0 = output
        else:
            x0 = t_abar ** 0.5 * sample - beta ** 0.5 * output
        if self.threshold is not None:
            return dynamic_threshold(x0, self.threshold, self.threshold_max)
        return x0.clamp(-self.clip, self.clip) if self.clip is not None else x0


class DDPM(Step):
    def step(self, output: torch.Tensor, t: int, sample: torch.Tensor, noise: torch.Tensor | None = None):
        """x_{t-1} from the network's ``output`` at x_t; ``noise``: the z added (needed where t > 0)."""
        abar, abar_prev = self._abar(t, torch.tensor(1.0))
        beta, beta_prev = 1 - abar, 1 - abar_prev
        alpha = abar / abar_prev
        x0 = self._x0(output, abar, sample)
        mean = (abar_prev ** 0.5 * (1 - alpha) / beta) * x0 + (alpha ** 0.5 * beta_prev / beta) * sample
        if t > 0:
            variance = torch.clamp(beta_prev / beta * (1 - alpha), min=1e-20)
            mean = mean + variance ** 0.5 * noise
        return mean


@dataclass
class DDIM(Step):
    eta: float = 0.0
    final_alpha_one: bool = True  # abar before step 0 is 1 (diffusers' set_alpha_to_one)

    def step(self, output: torch.Tensor, t: int, sample: torch.Tensor, noise: torch.Tensor | None = None):
        abar_final = torch.tensor(1.0) if self.final_alpha_one else self.schedule.alphas_cumprod[0]
        abar, abar_prev = self._abar(t, abar_final)
        beta, beta_prev = 1 - abar, 1 - abar_prev
        prediction = self.schedule.prediction
        if prediction == "epsilon":
            eps = output
        elif prediction == "sample":
            eps = (sample - abar ** 0.5 * output) / beta ** 0.5
        else:
            eps = abar ** 0.5 * output + beta ** 0.5 * sample
        x0 = self._x0(output, abar, sample)
        std = self.eta * ((beta_prev / beta) * (1 - abar / abar_prev)) ** 0.5
        previous = abar_prev ** 0.5 * x0 + (1 - abar_prev - std ** 2) ** 0.5 * eps
        if self.eta > 0 and noise is not None:  # at t = 0 sigma is 0
            previous = previous + std * noise
        return previous


def make_sampler(name: str, schedule: NoiseSchedule, steps: int, **options) -> Step:
    if name not in SAMPLERS:
        raise UserError(f"unknown sampler {name!r}", f"choose one of: {', '.join(SAMPLERS)}")
    spaced_steps(schedule.steps, steps)  # refuses bad step counts
    return (DDPM if name == "ddpm" else DDIM)(schedule, steps, **options)


def guided(conditional: torch.Tensor, unconditional: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: out_uncond + w (out_cond - out_uncond); w = 1 is the plain
    conditional model, w = 0 the unconditional one."""
    return unconditional + scale * (conditional - unconditional)


@torch.no_grad()
def sample(predict: Callable, sampler: Step, shape: tuple, generator: torch.Generator | None = None,
           device="cpu") -> torch.Tensor:
    """Run the reverse process from N(0, I): ``predict(x, t) -> network output``."""
    x = torch.randn(shape, generator=generator, device=device)
    for t in spaced_steps(sampler.schedule.steps, sampler.steps):
        output = predict(x, t)
        noise = torch.randn(shape, generator=generator, device=device) if t > 0 else None
        x = sampler.step(output, t, x, noise)
    return x
