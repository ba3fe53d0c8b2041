"""The text-to-image families' pieces: step spacing and its refusals, caption ids (the empty
caption, padding), guidance (w = 1 is the caption alone, w = 0 the empty caption), the training
loss going down on one batch, and bad input at the command line (one line, exit 2)."""

import pytest
import torch

from lmlineage.core.errors import UserError
from lmlineage.diffusion.samplers import guided, spaced_steps
from lmlineage.models import build_model
from lmlineage.core.registry import get_family
from lmlineage.tasks.text_to_image import TextToImageTask
from lmlineage.tokenizers.char import CharTokenizer
from lmlineage.vision.captions import CAPTIONS, CaptionIds, prompts

TINY = dict(vocab_size=12, max_positions=8, unet=dict(channels=[8, 16], attention=[False, True], heads=2, groups=4),
            image=dict(size=8), diffusion=dict(steps=50))


def test_spaced_steps_follow_leading_spacing_and_refuse_bad_counts():
    assert spaced_steps(1000, 4) == [750, 500, 250, 0]
    for bad in (0, -3, 1001):
        with pytest.raises(UserError):
            spaced_steps(1000, bad)


def test_caption_ids_pad_and_mark_the_empty_caption():
    tok = CharTokenizer(list(" abcdefghijklmnopqrstuvwxyz"))
    ids = CaptionIds(tok, 6)(["a cab", ""])
    assert ids[0, :5].tolist() == tok.encode("a cab") and ids[0, 5] == tok.vocab_size + 1
    assert ids[1, 0] == tok.vocab_size and (ids[1, 1:] == tok.vocab_size + 1).all()
    with pytest.raises(UserError, match="more than the 6"):
        CaptionIds(tok, 6)(["a long caption"])
    assert prompts("7", defaults=CAPTIONS) == ["a handwritten seven"]


def test_guidance_mixes_as_written():
    cond, uncond = torch.tensor([2.0]), torch.tensor([1.0])
    assert guided(cond, uncond, 1.0) == cond and guided(cond, uncond, 0.0) == uncond
    assert guided(cond, uncond, 3.0) == torch.tensor([4.0])


@pytest.mark.parametrize("family", ["glide", "latent-diffusion"])
def test_training_lowers_the_loss_and_drawing_is_seeded(family):
    torch.manual_seed(0)
    # latent diffusion's U-Net is scored predicting eps, whose target (the noise) stays put while the
    # autoencoder trained beside it moves the latents in these 15 steps (v's target moves with them)
    overrides = dict(TINY, **({"autoencoder": dict(channels=[8, 16], groups=4, latent_channels=2),
                               "diffusion": dict(steps=50, prediction="epsilon")}
                              if family == "latent-diffusion" else {}))
    model = build_model(get_family(family).config("tiny", **overrides))
    task = TextToImageTask(model).train()
    pixels = torch.rand(8, 1, 8, 8) * 2 - 1
    ids = torch.randint(0, 10, (8, 8))
    optimizer = torch.optim.Adam(task.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    first = task.losses(pixels, ids, torch.Generator().manual_seed(1), drop=False)["denoising"].item()
    for _ in range(15):
        parts = task.losses(pixels, ids, generator)
        loss = sum(parts.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    task.eval()
    assert task.losses(pixels, ids, torch.Generator().manual_seed(1), drop=False)["denoising"].item() < first
    a = model.draw(ids[:2], guidance=3.0, steps=3, seed=5)
    assert a.shape == (2, 1, 8, 8) and a.abs().max() <= 1
    assert torch.equal(a, model.draw(ids[:2], guidance=3.0, steps=3, seed=5))
    assert not torch.equal(a, model.draw(ids[:2], guidance=0.0, steps=3, seed=5))
    assert model.draw(ids[:2], guidance=1.0, steps=3, seed=5, sampler="ddpm").shape == a.shape


def test_a_config_whose_levels_do_not_halve_the_image_is_refused():
    with pytest.raises(UserError, match="divisible"):
        get_family("glide").config("tiny", image=dict(size=10), unet=dict(channels=[8, 16, 16],
                                                                         attention=[False, False, True]))


def test_bad_input_is_one_line(cli_refused, tmp_path):
    empty = tmp_path / "captions.jsonl"
    empty.write_text("")
    assert "lists no image" in cli_refused("train", "glide", "--data", empty, "--steps", 1,
                                           "--out", tmp_path / "run")
    assert "not a number" in cli_refused("generate", tmp_path, "--prompt", "a handwritten one",
                                         "--guidance", "strong")
    assert ">= 1" in cli_refused("generate", tmp_path, "--steps", 0)
    assert ">= 1" in cli_refused("generate", tmp_path, "--steps", -5)



def test_v_prediction_weighs_the_noisy_steps_that_epsilon_ignores():
    """Why the tiny presets predict v: an error d in the x_0 a prediction implies costs SNR * d^2
    predicting eps and (1 + SNR) * d^2 predicting v, so at the noisy steps (SNR near 0), where only
    the caption tells the digit, eps' loss hardly sees a wrong digit (the caption was ignored)."""
    from lmlineage.diffusion.schedules import NoiseSchedule

    x0, noise, error = torch.zeros(1, 4), torch.randn(1, 4), torch.full((1, 4), 0.5)
    for t in (10, 500, 990):
        steps = torch.tensor([t])
        abar = NoiseSchedule("cosine").alphas_cumprod[t]
        snr = abar / (1 - abar)
        costs = {}
        for prediction in ("epsilon", "v_prediction"):
            schedule = NoiseSchedule("cosine", prediction=prediction)
            x_t = schedule.add_noise(x0, noise, steps)
            # the output whose implied x_0 is off by ``error``: the target for x0 + error at the same x_t
            wrong_noise = (x_t - abar.sqrt() * (x0 + error)) / (1 - abar).sqrt()
            wrong = schedule.target(x0 + error, wrong_noise, steps)
            costs[prediction] = (wrong - schedule.target(x0, noise, steps)).pow(2).mean()
        torch.testing.assert_close(costs["epsilon"], snr * 0.25, rtol=1e-3, atol=1e-6)
        torch.testing.assert_close(costs["v_prediction"], (1 + snr) * 0.25, rtol=1e-3, atol=1e-6)
    assert snr < 1e-2  # at t = 990 eps' cost of a wrong digit is under 1% of v's


def test_latents_are_not_clipped_but_pixels_are():
    """Latents scaled to unit variance leave [-1, 1]: latent diffusion's predicted x_0 is not
    clipped there (clipped, its guided drawings were squiggles: BENCHMARKS.md); pixels still are."""
    latent = build_model(get_family("latent-diffusion").config("tiny", **dict(
        TINY, autoencoder=dict(channels=[8, 16], groups=4, latent_channels=2))))
    pixel = build_model(get_family("glide").config("tiny", **TINY))
    sample, output, t = torch.zeros(1, 2, 4, 4), torch.full((1, 2, 4, 4), -10.0), 40
    unclipped = latent.sampler("ddim", 5)._x0(output, latent.schedule.alphas_cumprod[t], sample)
    assert unclipped.abs().max() > 2
    assert pixel.sampler("ddim", 5)._x0(output, pixel.schedule.alphas_cumprod[t], sample).abs().max() <= 1
