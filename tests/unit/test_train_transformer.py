"""`lmlineage train transformer` on sequence pairs: the run, its report, its checkpoint, and
the inputs it refuses."""

import pytest
import torch

import lmlineage
from lmlineage.cli import main
from lmlineage.core.errors import UserError
from lmlineage.train.trainer import read_metrics

SMALL = dict(n_layer=1, decoder=dict(n_layer=1), d_model=32, attention=dict(n_head=4), mlp=dict(d_ff=64), dropout=0.0)


def test_train_reports_translation_metrics_and_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    result = lmlineage.train("transformer", data="reverse:2-4", steps=30, batch_size=16, warmup=10, lr=3e-3,
                             config=SMALL, out=out, progress=False)
    assert result.steps == 30 and result.bits_per_char is None
    assert {"bleu", "exact_match", "accuracy", "smoothed_loss", "pairs"} <= set(result.metrics)
    assert 100 < result.metrics["pairs"] <= 500 and 0 <= result.metrics["exact_match"] <= 1
    assert result.metrics["smoothed_loss"] > result.val_loss  # label smoothing costs likelihood by design
    records = read_metrics(out)
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses[-1] < losses[0]
    lrs = [r["lr"] for r in records if "lr" in r]
    # Inverse square root after the 10 warmup steps, peaking at --lr: logged at steps 25 and 30.
    assert lrs == pytest.approx([3e-3 * (10 / 25) ** 0.5, 3e-3 * (10 / 30) ** 0.5])
    model = lmlineage.load(out)
    assert model.config.family == "transformer" and model.decoder_start_id == model.tokenizer.eos_id
    assert isinstance(lmlineage.generate(model, "123", max_new_tokens=5, temperature=0), str)
    # The scored translations are the engine's greedy ones: redo one by hand.
    source = torch.tensor([model.tokenizer.encode("98765")])
    ids = lmlineage.generation.generate(model, source, max_new_tokens=6, eos_id=model.tokenizer.eos_id,
                                        pad_id=model.tokenizer.eos_id)
    assert ids.shape[0] == 1


def test_cli_prints_bleu(tmp_path, capsys):
    code = main(["train", "transformer", "--data", "sort:4-6", "--steps", "5", "--batch-size", "8", "--no-progress",
                 "--out", str(tmp_path / "r"), "--warmup", "2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "BLEU" in printed and "exact match" in printed and "held-out pairs" in printed


def test_refused_inputs(tmp_path):
    with pytest.raises(UserError, match="neither a built-in pair set nor a file"):
        lmlineage.train("transformer", data="shakespeare", steps=1, out=tmp_path / "a", progress=False)
    with pytest.raises(UserError, match="no end-of-sequence token"):
        lmlineage.train("transformer", data="reverse:3-5", tokenizer="char", steps=1, out=tmp_path / "b",
                        progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
