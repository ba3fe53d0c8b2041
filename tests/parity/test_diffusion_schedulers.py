"""Our DDPM and DDIM steps against `diffusers`' DDPMScheduler and DDIMScheduler: the same
network output, sample and noise give the same next sample within 1e-6, over a whole sampling
run, for several schedules, prediction types and step counts; the forward process (add_noise,
the velocity target) matches too."""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from lmlineage.diffusion.samplers import DDIM, DDPM, dynamic_threshold, spaced_steps  # noqa: E402
from lmlineage.diffusion.schedules import NoiseSchedule  # noqa: E402

SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2", "scaled_linear": "scaled_linear"}
CONFIGS = [  # (schedule, prediction, train steps, sampling steps, clip, threshold)
    ("linear", "epsilon", 1000, 50, 1.0, None),
    ("cosine", "epsilon", 1000, 20, 1.0, None),
    ("cosine", "v_prediction", 200, 10, None, None),
    ("scaled_linear", "sample", 100, 100, 1.0, None),
    ("linear", "epsilon", 100, 7, None, 0.9),
]


def fake_network(x, t):
    """A deterministic stand-in for a denoiser: a fixed function of x and t."""
    return torch.tanh(0.7 * x + 0.001 * t) - 0.1


def reference_options(kind, prediction, train_steps, clip, threshold):
    return dict(num_train_timesteps=train_steps, beta_schedule=SCHEDULES[kind], prediction_type=prediction,
                clip_sample=clip is not None, clip_sample_range=clip or 1.0, thresholding=threshold is not None,
                dynamic_thresholding_ratio=threshold or 0.995, sample_max_value=1.5 if threshold else 1.0)


def ours(cls, kind, prediction, train_steps, steps, clip, threshold, **extra):
    schedule = NoiseSchedule(kind, train_steps, prediction=prediction)
    return cls(schedule, steps, clip=clip, threshold=threshold, threshold_max=1.5 if threshold else 1.0, **extra)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_ddpm_steps_match(config):
    kind, prediction, train_steps, steps, clip, threshold = config
    ref = diffusers.DDPMScheduler(**reference_options(kind, prediction, train_steps, clip, threshold))
    ref.set_timesteps(steps)
    mine = ours(DDPM, *config)
    assert [int(t) for t in ref.timesteps] == spaced_steps(train_steps, steps)
    torch.testing.assert_close(mine.schedule.alphas_cumprod, ref.alphas_cumprod, rtol=0, atol=0)
    x_ref = x_ours = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 1.3
    g_ref, g_ours = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for t in ref.timesteps:
        t = int(t)
        x_ref = ref.step(fake_network(x_ref, t), t, x_ref, generator=g_ref).prev_sample
        noise = torch.randn(x_ours.shape, generator=g_ours) if t > 0 else None
        x_ours = mine.step(fake_network(x_ours, t), t, x_ours, noise)
        torch.testing.assert_close(x_ours, x_ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("eta", [0.0, 0.5])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_ddim_steps_match(config, eta):
    kind, prediction, train_steps, steps, clip, threshold = config
    ref = diffusers.DDIMScheduler(**reference_options(kind, prediction, train_steps, clip, threshold))
    ref.set_timesteps(steps)
    mine = ours(DDIM, *config, eta=eta)
    assert [int(t) for t in ref.timesteps] == spaced_steps(train_steps, steps)
    x_ref = x_ours = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 1.3
    for i, t in enumerate(ref.timesteps):
        t = int(t)
        noise = torch.randn(x_ours.shape, generator=torch.Generator().manual_seed(100 + i))
        x_ref = ref.step(fake_network(x_ref, t), t, x_ref, eta=eta, variance_noise=noise).prev_sample
        x_ours = mine.step(fake_network(x_ours, t), t, x_ours, noise)
        torch.testing.assert_close(x_ours, x_ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", list(SCHEDULES))
def test_forward_process_matches(kind):
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=SCHEDULES[kind])
    schedule = NoiseSchedule(kind, 1000, prediction="v_prediction")
    g = torch.Generator().manual_seed(2)
    x0, noise = torch.randn(5, 2, 3, 3, generator=g), torch.randn(5, 2, 3, 3, generator=g)
    t = torch.tensor([0, 1, 499, 998, 999])
    torch.testing.assert_close(schedule.add_noise(x0, noise, t), ref.add_noise(x0, noise, t), rtol=0, atol=1e-6)
    torch.testing.assert_close(schedule.target(x0, noise, t), ref.get_velocity(x0, noise, t), rtol=0, atol=1e-6)


def test_dynamic_threshold_matches():
    ref = diffusers.DDPMScheduler(thresholding=True, dynamic_thresholding_ratio=0.9, sample_max_value=2.0)
    x = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(3)) * 2
    torch.testing.assert_close(dynamic_threshold(x, 0.9, 2.0), ref._threshold_sample(x), rtol=0, atol=1e-6)
    assert dynamic_threshold(x, 0.9, 2.0).abs().max() <= 1.0 + 1e-6
