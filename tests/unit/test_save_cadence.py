"""With the default flags a run is saved before its end: last/ on a time cadence between
evaluations, and on SIGINT / SIGTERM before it stops (once Ctrl-C at step 550 of 1000 left no last/
and --resume was refused)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lmlineage.train.trainer import SAVE_INTERVAL_S, TrainConfig
from test_resume import make_trainer

CORPUS = str(Path(__file__).resolve().parents[1] / "fixtures" / "golden_corpus.txt")


def test_the_default_saves_between_evaluations():
    assert TrainConfig().eval_interval is None and 0 < TrainConfig().save_interval_s <= 600


def test_last_is_saved_on_the_cadence_without_an_evaluation(tmp_path):
    tokens = np.random.default_rng(0).integers(0, 50, 2000).astype(np.uint16)
    trainer = make_trainer(tmp_path / "run", 12, tokens)
    trainer.cfg.eval_interval, trainer.cfg.save_interval_s = None, 1e-9  # every log interval (2 steps)
    trainer.fit(stop_at=5)
    state = json.loads((tmp_path / "run" / "last" / "trainer_state.json").read_text())
    assert state["step"] == 4


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130),
                                       pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)])
def test_a_signal_saves_last_then_stops_and_resume_goes_on(sig, code, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    flags = ["--data", CORPUS, "--batch-size", "2", "--context", "32", "--eval-batches", "1", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "lmlineage", "train", "gpt2", "--out", str(out), "--steps",
                             "100000", *flags], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (metrics.exists() and metrics.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)  # training has logged its first steps
    proc.send_signal(sig)
    err = proc.communicate(timeout=240)[1].decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    step = json.loads((out / "last" / "trainer_state.json").read_text())["step"]
    assert step >= 25
    resumed = subprocess.run([sys.executable, "-m", "lmlineage", "train", "gpt2", "--out", str(out), "--resume",
                              "--steps", str(step + 2), "--no-progress", "--eval-batches", "1",
                              "--batch-size", "2"], capture_output=True, env=env, timeout=240)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert json.loads((out / "last" / "trainer_state.json").read_text())["step"] == step + 2
