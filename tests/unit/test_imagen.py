"""Imagen's parts: the cascade draws its base size, then the full size from the upsampled base
(seeded); the text encoder stays frozen while both U-Nets learn; dynamic thresholding is the
sampler's; a T5 checkpoint's encoder and tokenizer become the text side (`--text-encoder`: our t5
run or a `transformers` T5 directory), and anything else is refused in one line."""

import pytest
import torch

from lmlineage import cli
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.tasks.text_to_image import CascadeTask

TINY = dict(vocab_size=12, max_positions=6, d_model=16, attention=dict(n_head=2, head_dim=8), mlp=dict(d_ff=32),
            unet=dict(channels=[8, 16], attention=[False, True], heads=2, groups=4, class_dim=16),
            cascade=dict(base_size=4, augmentation=5, unet=dict(channels=[8, 16], attention=[False, True], heads=2, groups=4,
                                                class_dim=16)),
            image=dict(size=8), diffusion=dict(steps=50))


def tiny():
    torch.manual_seed(0)
    return build_model(get_family("imagen").config("tiny", **TINY))


def test_the_cascade_draws_the_base_then_the_full_size_seeded():
    model = tiny().eval()
    ids = torch.randint(0, 10, (3, 6))
    base, drawn = model.draw_stages(ids, guidance=3.0, steps=3, seed=4)
    assert base.shape == (3, 1, 4, 4) and drawn.shape == (3, 1, 8, 8) and drawn.abs().max() <= 1
    assert torch.equal(drawn, model.draw(ids, guidance=3.0, steps=3, seed=4))
    assert model.sampler("ddim", 3).threshold == model.config.diffusion.threshold == 0.995  # dynamic thresholding


def test_the_text_encoder_is_frozen_and_both_u_nets_learn():
    model = tiny()
    task = CascadeTask(model).train()
    assert not model.text.training  # frozen: no dropout in training either
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam([p for p in task.parameters() if p.requires_grad], lr=1e-2)
    pixels, ids = torch.rand(4, 1, 8, 8) * 2 - 1, torch.randint(0, 10, (4, 6))
    parts = task.losses(pixels, ids, torch.Generator().manual_seed(0))
    assert set(parts) == {"denoising", "super_resolution"}
    task((pixels, ids)).backward()
    optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith("text."))
    for part in ("unet.conv_in.weight", "super_resolution.conv_in.weight"):
        assert not torch.equal(before[part], after[part])
    assert model.super_resolution.conv_in.in_channels == 2  # its noisy input and the upsampled base image


@pytest.mark.slow
def test_a_t5_run_becomes_the_frozen_text_side_and_other_checkpoints_are_refused(tmp_path, capsys):
    import lmlineage

    t5 = tmp_path / "t5"
    assert cli.main(["train", "t5", "--steps", "1", "--eval-batches", "1", "--out", str(t5)]) == 0
    assert cli.main(["train", "imagen", "--text-encoder", str(t5), "--steps", "1", "--out", str(tmp_path / "im")]) == 0
    imagen, encoder = lmlineage.load(tmp_path / "im" / "best"), lmlineage.load(t5 / "best")
    ours, theirs = imagen.text.state_dict(), encoder.encoder.state_dict()
    words = encoder.tokenizer.vocab_size
    assert imagen.config.d_model == encoder.config.d_model == imagen.config.unet.class_dim
    assert torch.equal(ours["embed_tokens.weight"][:words], theirs["embed_tokens.weight"][:words])
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs if k != "embed_tokens.weight")
    capsys.readouterr()
    code = cli.main(["train", "imagen", "--text-encoder", str(tmp_path / "im"), "--steps", "1",
                     "--out", str(tmp_path / "again")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no encoder-decoder" in err[0], err


@pytest.mark.slow  # a CLI run and a drawing: 15-60 s on the shared 2-core CPU
def test_a_t5_reference_directory_becomes_the_frozen_text_side_and_it_draws(tmp_path):
    """``--text-encoder`` also reads a ``transformers`` T5 directory (the reference loader, with the
    tokenizer.json saved beside it): after training, the text side gives the reference encoder's states."""
    from PIL import Image

    transformers = pytest.importorskip("transformers")
    import lmlineage
    from lmlineage.tokenizers.hf import train

    tokenizer = train("unigram", ["a handwritten seven", "a thick zero", "a thin one", "two three four five"] * 10,
                      vocab_size=40)
    torch.manual_seed(0)
    reference = transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=tokenizer.vocab_size, d_model=16, d_kv=8, d_ff=24, num_layers=1, num_heads=2,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1))
    t5 = tmp_path / "t5"
    reference.save_pretrained(t5)
    tokenizer.save(t5)
    run = tmp_path / "im"
    assert cli.main(["train", "imagen", "--text-encoder", str(t5), "--steps", "2", "--batch-size", "4",
                     "--eval-batches", "1", "--out", str(run)]) == 0
    imagen = lmlineage.load(run / "best")
    assert imagen.config.d_model == imagen.config.unet.class_dim == 16 and imagen.config.n_layer == 1
    ids = torch.tensor([tokenizer.encode("a handwritten seven") + [1]])
    encoder = transformers.T5EncoderModel.from_pretrained(t5, attn_implementation="eager").eval()
    with torch.no_grad():
        theirs = encoder(input_ids=ids).last_hidden_state
        ours, _ = imagen.encode_text(ids)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)  # the directory's weights, unchanged
    grid = tmp_path / "grid.png"
    assert cli.main(["generate", str(run), "--prompt", "a handwritten seven", "--steps", "2", "--samples", "2",
                     "--out", str(grid)]) == 0
    assert Image.open(grid).size[0] > 0
