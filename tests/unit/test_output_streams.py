"""`lmlineage train ... | head -1` ends quietly (once a BrokenPipeError traceback), and with stderr
not a terminal progress is plain periodic lines, not a bar's redraws."""

import os
import subprocess
import sys
from pathlib import Path

from lmlineage.cli import main

CORPUS = str(Path(__file__).resolve().parents[1] / "fixtures" / "golden_corpus.txt")
SMALL = ["--data", CORPUS, "--steps", "2", "--batch-size", "2", "--eval-batches", "1", "--context", "32"]


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "lmlineage", "train", "gpt2", "--out", str(tmp_path / "run"),
                             "--no-progress", *SMALL], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the first line: every write to stdout fails
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141


def test_progress_off_a_terminal_is_plain_lines(tmp_path, capsys):
    assert main(["train", "gpt2", "--out", str(tmp_path / "run"), *SMALL]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err  # no redraws
    assert any(line.startswith("step 2/2 | loss ") for line in err.splitlines()), err


def test_translating_off_a_terminal_is_plain_lines(capsys):
    """Every progress display goes through train.progress: translation's once wrote tqdm redraws to a log."""
    import torch

    from lmlineage.core.registry import get_family
    from lmlineage.models import build_model
    from lmlineage.tasks.seq2seq import Seq2SeqTask

    torch.manual_seed(0)
    task = Seq2SeqTask(build_model(get_family("transformer").config("tiny", vocab_size=40)), pad_id=2)
    sources = [[5, 6, 7], [8, 9], [10, 11, 12, 13]]
    capsys.readouterr()
    assert len(task.translate(sources, batch_size=1, max_new_tokens=2, progress=True)) == 3
    err = capsys.readouterr().err
    assert "\r" not in err  # no redraws
    assert err.splitlines()[-1] == "translating 3/3", err
