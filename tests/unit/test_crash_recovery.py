"""What a crash leaves behind in a checkpoint swap, and how recover() deals with it. (The real thing,
SIGKILL at random moments, is benchmarks/kill_test.py, run by tests/slow/test_kill.py.)"""

import json
import os
import shutil

import numpy as np
import pytest
import torch

from lmlineage.core.errors import UserError
from lmlineage.checkpoint import directory as ckpt
from lmlineage.train.trainer import read_metrics

DEAD = 4194305 + 17  # above Linux's largest pid_max: no such process can exist


def write(target, text):
    with ckpt.atomic_directory(target) as tmp:
        (tmp / "payload.txt").write_text(text)


def crash_between_renames(target, new_text, pid=DEAD):
    """The state a kill between ``target -> .old`` and ``.tmp -> target`` leaves."""
    tmp = target.parent / f".{target.name}.tmp-{pid}"
    tmp.mkdir()
    (tmp / "payload.txt").write_text(new_text)
    ckpt.write_manifest(tmp)
    os.rename(target, target.parent / f".{target.name}.old-{pid}")


def test_recover_restores_the_old_copy_and_clears_litter(tmp_path):
    last = tmp_path / "last"
    write(last, "step 1")
    crash_between_renames(last, "step 2")
    assert not last.exists()
    assert ckpt.recoverable(last) == tmp_path / f".last.old-{DEAD}"  # read-only: nothing moved yet
    assert not last.exists()
    ckpt.recover(last)
    ckpt.verify(last)
    assert (last / "payload.txt").read_text() == "step 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_recover_prefers_an_intact_old_copy_to_a_half_deleted_newer_one(tmp_path):
    last = tmp_path / "last"
    write(last, "step 1")
    crash_between_renames(last, "step 2")
    half = tmp_path / f".last.old-{DEAD + 1}"  # a later crash while the old copy was being removed
    shutil.copytree(tmp_path / f".last.old-{DEAD}", half)
    (half / "payload.txt").unlink()
    os.utime(half, (2e9, 2e9))  # and newer
    ckpt.recover(last)
    assert (last / "payload.txt").read_text() == "step 1"
    assert not half.exists()


def test_recover_leaves_a_running_writer_alone(tmp_path):
    last = tmp_path / "last"
    write(last, "step 1")
    live = tmp_path / f".last.tmp-{os.getppid()}"  # a process that exists: maybe writing right now
    live.mkdir()
    dead = tmp_path / f".last.tmp-{DEAD}"
    dead.mkdir()
    ckpt.recover(last)
    assert live.exists() and not dead.exists()


def test_recover_with_nothing_to_recover(tmp_path):
    ckpt.recover(tmp_path / "last")  # no run yet
    ckpt.recover(tmp_path / "missing" / "last")  # no run directory yet
    assert ckpt.recoverable(tmp_path / "last") is None


def test_a_damaged_old_copy_is_restored_so_that_loading_says_why(tmp_path):
    last = tmp_path / "last"
    write(last, "step 1")
    crash_between_renames(last, "step 2")
    (tmp_path / f".last.old-{DEAD}" / "payload.txt").write_text("bit rot")
    ckpt.recover(last)
    with pytest.raises(UserError, match="checksum"):
        ckpt.verify(last)


def test_atomic_directory_survives_its_own_pids_litter(tmp_path):
    """Pids repeat (a container's trainer is often pid 1): an old copy left by a crashed process
    with this pid must not make the swap fail."""
    last = tmp_path / "last"
    write(last, "step 1")
    stale = tmp_path / f".last.old-{os.getpid()}"
    stale.mkdir()
    (stale / "junk").write_text("x")
    write(last, "step 2")
    assert (last / "payload.txt").read_text() == "step 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def _trainer(out, steps=2):
    from lmlineage.core.registry import get_family
    from lmlineage.models import build_model
    from lmlineage.tasks.causal_lm import CausalLMTask
    from lmlineage.train.trainer import TrainConfig, Trainer

    tokens = np.random.default_rng(0).integers(0, 50, 600).astype(np.uint16)
    torch.manual_seed(0)
    model = build_model(get_family("gpt2").config("tiny", vocab_size=50, n_layer=1, d_model=16,
                                                  attention=dict(n_head=2), max_positions=8))
    cfg = TrainConfig(steps=steps, batch_size=2, context=8, warmup=1, log_interval=1, eval_interval=1,
                      eval_batches=1, progress=False, seed=3)
    return Trainer(CausalLMTask(model), tokens[:500], tokens[500:], cfg, out)


def test_a_fresh_start_drops_the_records_of_an_attempt_that_crashed_before_its_first_checkpoint(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "val_loss": 9.0}) + "\n")
    trainer = _trainer(tmp_path)
    trainer.fit()
    records = read_metrics(tmp_path)
    assert records == trainer.history
    assert (tmp_path / "loss.png").exists() and not (tmp_path / ".loss.png.tmp").exists()


def test_best_is_written_before_last(tmp_path, monkeypatch):
    """A crash between the two writes must not leave last/ claiming a best that best/ lacks."""
    trainer = _trainer(tmp_path, steps=1)
    order = []
    save = trainer.save
    monkeypatch.setattr(trainer, "save", lambda directory: (order.append(directory.name), save(directory)))
    trainer.fit()
    assert order == ["best", "last"]


def test_same_seed_same_saved_rng_state(tmp_path):
    """Every generator a checkpoint captures is seeded: two runs with one seed save the same state."""
    import random

    states = []
    for i in range(2):
        random.seed(i)
        np.random.seed(i)
        _trainer(tmp_path / str(i), steps=1).fit()
        states.append(json.loads((tmp_path / str(i) / "last" / "trainer_state.json").read_text())["rng"])
    assert states[0] == states[1]


def test_a_fresh_start_clears_the_litter_of_an_attempt_killed_inside_its_first_best_write(tmp_path):
    """The first eval writes best/ before last/ exists, so a kill there is followed by a fresh start,
    not a resume (found by the kill test: round 36 of 100 kept a ``.best.tmp-PID``)."""
    for name in ("best", "step-00000002"):  # a half copy, and the rotation copy of --keep-last
        half = tmp_path / f".{name}.tmp-{DEAD}"
        half.mkdir()
        (half / "model.safetensors").write_bytes(b"cut short")
    live = tmp_path / f".best.tmp-{os.getppid()}"  # a writer that may still be running is left alone
    live.mkdir()
    _trainer(tmp_path, steps=1).fit()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [live.name]
    ckpt.verify(tmp_path / "best")


def test_recover_run_puts_back_a_best_left_between_its_renames(tmp_path):
    best = tmp_path / "best"
    write(best, "step 1")
    crash_between_renames(best, "step 2")
    ckpt.recover_run(tmp_path)
    assert (best / "payload.txt").read_text() == "step 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_an_atomic_directory_may_hold_directories(tmp_path):
    """A run of several stages (`lmlineage rlhf`) writes one checkpoint directory per stage inside it."""
    from lmlineage.checkpoint.directory import atomic_directory

    with atomic_directory(tmp_path / "run") as tmp:
        (tmp / "reward").mkdir()
        (tmp / "reward" / "config.json").write_text("{}\n")
        (tmp / "summary.json").write_text("{}\n")
    assert (tmp_path / "run" / "reward" / "config.json").read_text() == "{}\n"
    assert not list(tmp_path.glob(".run.tmp-*"))
