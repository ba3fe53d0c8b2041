"""A run remembers its corpus, tokenizer and context (``run.json``): `--resume` alone goes on with
them (it once trained on the built-in corpus and overwrote the run's data/), and a flag that
contradicts them is refused with one line."""

import json
from pathlib import Path

import pytest
import torch

import lmlineage
from lmlineage.cli import main
from lmlineage.train.trainer import read_metrics

CORPUS = str(Path(__file__).resolve().parents[1] / "fixtures" / "golden_corpus.txt")
SMALL = dict(batch_size=2, eval_batches=1, progress=False, sample_tokens=0, context=32)


@pytest.fixture
def started(tmp_path) -> Path:
    out = tmp_path / "run"
    lmlineage.train("gpt2", data=CORPUS, out=out, steps=2, **SMALL)
    return out


def test_resume_alone_reads_the_runs_own_corpus(started):
    before = (started / "data" / "train.bin").read_bytes()
    result = lmlineage.train("gpt2", out=started, steps=4, resume=True, progress=False, sample_tokens=0,
                             batch_size=2, eval_batches=1)
    assert result.steps == 4
    assert (started / "data" / "train.bin").read_bytes() == before
    assert json.loads((started / "run.json").read_text())["data"] == str(Path(CORPUS).resolve())


@pytest.mark.parametrize("flags, message", [
    (["--data", "shakespeare"], "--resume with --data shakespeare: {out} was started with --data "),
    (["--context", "16"], "--resume with --context 16: {out} was started with --context 32"),
    (["--tokenizer", "char"], "--resume with --tokenizer char: {out} was started with no --tokenizer"),
])
def test_a_flag_that_contradicts_the_run_is_refused(started, flags, message, capsys):
    before = (started / "data" / "train.bin").read_bytes()
    code = main(["train", "gpt2", "--out", str(started), "--resume", "--steps", "4", "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: " + message.format(out=started)) and err.count("\n") == 1
    assert (started / "data" / "train.bin").read_bytes() == before


def test_the_same_flags_resume(started):
    result = lmlineage.train("gpt2", data=CORPUS, out=started, steps=3, resume=True, **SMALL)
    assert result.steps == 3


def test_resume_before_the_first_save_starts_again(tmp_path, monkeypatch, capsys):
    """Killed after it started but before its first save (run.json and data/, no last/): `--resume`
    starts it again from step 0 with the corpus and context it was started with, and ends where an
    uninterrupted run ends (it was refused, so a crash script's `--resume` could not go on)."""
    from safetensors.torch import load_file

    from lmlineage.train.trainer import Trainer

    flags = ["--steps", "3", "--batch-size", "2", "--eval-batches", "1", "--no-progress"]
    reference, out = tmp_path / "reference", tmp_path / "run"
    assert main(["train", "gpt2", "--data", CORPUS, "--context", "32", "--out", str(reference), *flags]) == 0

    def killed(self, *args, **kwargs):
        raise KeyboardInterrupt  # as if stopped at once: nothing saved

    with monkeypatch.context() as m:
        m.setattr(Trainer, "fit", killed)
        assert main(["train", "gpt2", "--data", CORPUS, "--context", "32", "--out", str(out), *flags]) == 130
    assert (out / "run.json").exists() and not (out / "last").exists()
    capsys.readouterr()
    assert main(["train", "gpt2", "--out", str(out), "--resume", *flags]) == 0
    assert f"{out} has no checkpoint yet (it stopped before its first save): starting it again from step 0" \
        in capsys.readouterr().err
    for name in ("model.safetensors", "optimizer.safetensors"):
        a, b = load_file(str(reference / "last" / name)), load_file(str(out / "last" / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    def curve(run):
        return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in read_metrics(run)]

    assert curve(reference) == curve(out)
