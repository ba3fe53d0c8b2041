"""A run remembers its corpus, tokenizer and context (``run.json``): `--resume` alone goes on with
them (it once trained on the built-in corpus and overwrote the run's data/), and a flag that
contradicts them is refused with one line."""

import json
from pathlib import Path

import pytest

import lmlineage
from lmlineage.cli import main

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
