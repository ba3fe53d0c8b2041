"""dall-e's pieces: the Gumbel-softmax relaxation (soft and hard, the temperature, its annealing),
the discrete VAE's shapes and its reconstruction loss going down, the 1/8 - 7/8 weighting of the
text and image cross-entropies computed by hand, causal masking over [caption; image tokens],
seeded sampling, the two stages of one run, reranking order, and bad input at the command line."""

import math

import pytest
import torch

from lmlineage import cli
from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.layers.gumbel import annealed_temperature, gumbel_softmax
from lmlineage.models import build_model
from lmlineage.tasks.dall_e import DallETask, token_losses, weighted
from lmlineage.vision.rerank import best_of, draw_reranked

TINY = dict(vocab_size=12, max_positions=4, d_model=32, n_layer=2, attention=dict(n_head=4), mlp=dict(d_ff=64),
            dvae=dict(channels=[8, 16], groups=4, codebook=16, code_dim=8, steps=3), image=dict(size=8))


def tiny_model(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(get_family("dall-e").config("tiny", **{**TINY, **overrides}))


def test_gumbel_softmax_is_a_distribution_hard_is_one_hot_and_temperature_sharpens():
    logits = torch.randn(64, 10, requires_grad=True)
    soft = gumbel_softmax(logits, 1.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(soft.sum(-1), torch.ones(64)) and (soft > 0).all()
    hard = gumbel_softmax(logits, 1.0, hard=True, generator=torch.Generator().manual_seed(0))
    assert ((hard == 0) | (hard == 1)).all() and (hard.sum(-1) == 1).all()
    assert torch.equal(hard.argmax(-1), soft.argmax(-1))  # the same noise: the same choice
    (hard * torch.arange(10.0)).sum().backward()  # straight through: the soft sample's gradient
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    cold = gumbel_softmax(logits.detach(), 0.05, generator=torch.Generator().manual_seed(0))
    warm = gumbel_softmax(logits.detach(), 5.0, generator=torch.Generator().manual_seed(0))
    assert cold.max(-1).values.mean() > 0.9 > soft.max(-1).values.mean() > warm.max(-1).values.mean()
    # Draws follow softmax(logits): the argmax of logits + Gumbel noise is a categorical sample.
    probs = torch.tensor([0.1, 0.2, 0.7])
    draws = gumbel_softmax(probs.log().expand(20000, 3), 1.0, hard=True, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(draws.mean(0), probs, atol=0.015)
    with pytest.raises(ValueError):
        gumbel_softmax(logits, 0.0)


def test_temperature_anneals_geometrically_from_start_to_end():
    assert annealed_temperature(0, 100, 1.0, 1 / 16) == 1.0
    assert math.isclose(annealed_temperature(50, 100, 1.0, 1 / 16), 0.25)
    assert annealed_temperature(100, 100, 1.0, 1 / 16) == annealed_temperature(500, 100, 1.0, 1 / 16) == 1 / 16


def test_dvae_shapes_and_its_reconstruction_loss_falls():
    model = tiny_model()
    pixels = torch.rand(6, 1, 8, 8) * 2 - 1
    assert model.dvae.logits(pixels).shape == (6, 16, 4, 4)
    codes = model.dvae.encode(pixels)
    assert codes.shape == (6, 4, 4) and codes.dtype == torch.long and int(codes.max()) < 16
    assert model.dvae.decode(codes).shape == pixels.shape
    task = DallETask(model).train()
    optimizer = torch.optim.Adam(model.dvae.parameters(), lr=1e-2)
    first = model.dvae.losses(pixels, 1.0, generator=torch.Generator().manual_seed(0))["reconstruction"].item()
    for step in range(12):
        loss = task.dvae_loss(pixels, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.dvae.losses(pixels, 1.0, generator=torch.Generator().manual_seed(0))["reconstruction"].item() < 0.7 * first


def test_text_and_image_losses_are_weighted_one_eighth_and_seven_eighths_by_hand():
    model = tiny_model()
    pad = model.pad_id
    ids = torch.tensor([[3, 5, 7, pad], [4, 2, pad, pad]])
    codes = torch.randint(0, 16, (2, 4, 4), generator=torch.Generator().manual_seed(2))
    logits = model(ids, codes)
    assert logits.shape == (2, 4 + 16 - 1, 12 + 16)
    # by hand: each target's -log p over its own part of the vocabulary
    text_terms = [-logits[0, 0, :12].log_softmax(-1)[5], -logits[0, 1, :12].log_softmax(-1)[7],
                  -logits[1, 0, :12].log_softmax(-1)[2]]  # padding is no target
    image_terms = [-logits[b, 3 + i, 12:].log_softmax(-1)[codes[b].flatten()[i]] for b in range(2) for i in range(16)]
    text, image = torch.stack(text_terms).mean(), torch.stack(image_terms).mean()
    parts = token_losses(model, ids, codes)
    assert torch.allclose(parts["text"], text) and torch.allclose(parts["image"], image)
    assert torch.allclose(weighted(parts, model.config), text / 8 + 7 * image / 8)


def test_masking_is_causal_over_caption_and_image_tokens():
    model = tiny_model().eval()
    ids = torch.tensor([[3, 5, 7, 1]])
    codes = torch.randint(0, 16, (1, 4, 4), generator=torch.Generator().manual_seed(3))
    before = model(ids, codes)
    changed = codes.clone()
    changed[0, 2, 1] = (changed[0, 2, 1] + 1) % 16  # image token 9, at place 4 + 9 = 13 of the sequence
    after = model(ids, changed)
    assert torch.allclose(before[0, :13], after[0, :13], atol=1e-6)  # nothing before it sees it
    assert not torch.allclose(before[0, 13:], after[0, 13:])
    other_caption = model(torch.tensor([[3, 6, 7, 1]]), codes)  # caption token 1 changes every later place
    assert torch.allclose(before[0, :1], other_caption[0, :1], atol=1e-6)
    assert not torch.allclose(before[0, 1:], other_caption[0, 1:])


def test_cached_sampling_matches_the_full_forward_and_is_seeded():
    model = tiny_model().eval()
    ids = torch.tensor([[3, 5, 7, 1], [4, 2, 1, 1]])
    codes = model.sample_codes(ids, seed=5, top_k=1)  # greedy: each code is the full forward's argmax
    logits = model(ids, codes)[:, 3:, 12:]
    assert torch.equal(logits.argmax(-1), codes.flatten(1))
    a = model.draw(ids, seed=5)
    assert a.shape == (2, 1, 8, 8) and a.abs().max() <= 1
    assert torch.equal(a, model.draw(ids, seed=5)) and not torch.equal(a, model.draw(ids, seed=6))


def test_one_run_trains_the_dvae_then_the_transformer_on_frozen_codes():
    model = tiny_model()
    task = DallETask(model).train()
    pixels, ids = torch.rand(4, 1, 8, 8) * 2 - 1, torch.tensor([[3, 5, 7, 1]] * 4)
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-3)
    for step in range(5):  # dvae.steps = 3
        dvae_before = [p.detach().clone() for p in model.dvae.parameters()]
        head_before = model.head.weight.detach().clone()
        optimizer.zero_grad(set_to_none=True)
        task((pixels, ids)).backward()
        optimizer.step()
        dvae_moved = any(not torch.equal(a, b) for a, b in zip(dvae_before, model.dvae.parameters()))
        head_moved = not torch.equal(head_before, model.head.weight)
        assert (dvae_moved, head_moved) == ((True, False) if step < 3 else (False, True)), step
    assert int(model.steps_done) == 5 and task.stage() == "transformer"
    assert "dvae" in model.state_dict().__repr__() and "steps_done" in model.state_dict()


def test_reranking_keeps_the_best_scored_of_each_caption_best_first():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.2, 0.8])
    assert best_of(scores, 2, 2).tolist() == [1, 2, 5, 3]
    assert best_of(torch.tensor([0.5, 0.5, 0.1]), 1, 2).tolist() == [0, 1]  # ties: the earlier first
    model = tiny_model().eval()

    class Words:  # a tokenizer of three words
        vocab_size = 10
        words = {"a": 3, "seven": 5, "one": 7}

        def encode(self, text):
            return [self.words[w] for w in text.split()]

    brightness = lambda images, captions: images.mean((1, 2, 3))  # noqa: E731
    kept, kept_scores = draw_reranked(model, Words(), ["a seven", "a one"], brightness, per_caption=2, candidates=3,
                                      seed=0)
    assert kept.shape == (4, 1, 8, 8) and kept_scores[0] >= kept_scores[1] and kept_scores[2] >= kept_scores[3]
    assert torch.allclose(kept.mean((1, 2, 3)), kept_scores)


def one_line_refusal(capsys, *argv) -> str:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_input_is_one_line(capsys, tmp_path):
    assert "not a number" in one_line_refusal(capsys, "generate", tmp_path, "--prompt", "a handwritten one",
                                              "--guidance", "strong")
    assert ">= 1" in one_line_refusal(capsys, "generate", tmp_path, "--steps", 0)
    assert ">= 1" in one_line_refusal(capsys, "generate", tmp_path, "--candidates", 0)
    assert "negative" in one_line_refusal(capsys, "train", "dall-e", "--dvae-steps", -1, "--steps", 1,
                                          "--out", tmp_path / "run")
    with pytest.raises(UserError, match="empty"):
        from lmlineage.vision.text_to_image import draw

        draw(tiny_model(), None, [" "])


def test_generate_draws_a_grid_and_refuses_bad_input_in_one_line(capsys, tmp_path):
    from lmlineage.checkpoint.directory import atomic_directory
    from lmlineage.checkpoint.model import save_model_files
    from lmlineage.tokenizers import build_tokenizer
    from lmlineage.vision.captions import ImageTextProcessor
    from lmlineage.vision.processor import ImageProcessor

    tok = build_tokenizer("wordpiece", ["a handwritten seven", "a handwritten one"], 1000)
    model = tiny_model(vocab_size=tok.vocab_size + 2, labels=["a handwritten one", "a handwritten seven"])
    run = tmp_path / "ckpt"
    with atomic_directory(run) as tmp:
        save_model_files(tmp, model, ImageTextProcessor(ImageProcessor.drawing(8, 1), tok))
    grid = tmp_path / "grid.png"
    assert cli.main(["generate", str(run), "--prompt", "a handwritten seven", "--out", str(grid), "--samples", "3"]) == 0
    assert "3 drawing(s) of each of 1 caption(s)" in capsys.readouterr().out and grid.stat().st_size > 0
    assert "caption is empty" in one_line_refusal(capsys, "generate", run, "--prompt", " ", "--out", grid)
    assert "no CLIP" in one_line_refusal(capsys, "generate", run, "--prompt", "a handwritten one", "--out", grid,
                                         "--rerank", run)
    assert "PNG" in one_line_refusal(capsys, "generate", run, "--out", tmp_path / "grid.jpg")
