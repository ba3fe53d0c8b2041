"""The README's "a run survives being killed at any moment" with the default flags: `lmlineage train
gpt2 --out RUN --steps N` (only the amount of work reduced) is stopped by SIGKILL and by SIGINT at
random moments, each time followed by `lmlineage train gpt2 --out RUN --steps N --resume` and no
other flag, and it ends bit for bit where the uninterrupted run ends: the same records in
metrics.jsonl (every logged train loss, the validation loss), the same weights, optimizer state and
trainer state in last/ and best/, and the same printed result (val loss, bits per char, sample).

With the default flags last/ is written at the end, every 300 s and on SIGINT/SIGTERM, so:
* SIGINT finishes the step under way, saves last/ and exits 130; the resume goes on from there;
* SIGKILL saves nothing; the resume goes on from the last save, or -- killed before the first
  save -- starts the run again from step 0 with what it was started with (run.json);
* killed before the run got as far as run.json (the first second or two: imports, the corpus),
  there is no run: `--resume` is refused with one line (exit 2) and the run is started afresh.
No life ends in a traceback, but for Ctrl-C in the interpreter's own start-up, before any of
lmlineage runs (Python prints its KeyboardInterrupt).

The moments are drawn with a fixed seed: four while training (uniform over the time the
uninterrupted run took for the steps left, from when the life's trainer starts its loop), two at
start-up (uniform over the uninterrupted run's start-up: imports, corpus, model). Where in a phase
each lands depends on the machine's speed; the test holds wherever they land. Every process runs
one thread (OMP_NUM_THREADS=1), so the uninterrupted run's final evaluation goes on beside the
interrupted lives (about 2 minutes in all on 2 cores). benchmarks/kill_test.py is the SIGKILL-only
proof with a checkpoint after every step (kills inside checkpoint writes).
"""

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STEPS = 60  # the one flag besides --out and --resume: the default 2000 would take minutes per life
# (signal, where): at start-up (imports, the corpus, the model) or while training.
MOMENTS = [(signal.SIGKILL, "training"), (signal.SIGINT, "training")] * 2 + [
    (signal.SIGKILL, "start-up"), (signal.SIGINT, "start-up")]
SEED = 14

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL (POSIX)")]


@pytest.fixture(scope="module")
def kill_test():
    """benchmarks/kill_test.py's comparison of a finished run with the uninterrupted one."""
    spec = importlib.util.spec_from_file_location("kill_test", REPO / "benchmarks" / "kill_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_test"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("kill_test", None)


class Life:
    """One `lmlineage train gpt2 --out RUN --steps N [--resume]` process."""

    def __init__(self, out: Path, resume: bool, logs: Path, index: int):
        cmd = [sys.executable, "-m", "lmlineage", "train", "gpt2", "--out", str(out), "--steps", str(STEPS),
               *(["--resume"] if resume else [])]
        self.stdout, self.stderr = logs / f"{index}.out", logs / f"{index}.err"
        # One thread each: the uninterrupted run evaluates beside the interrupted lives with the
        # same arithmetic as theirs.
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
        with open(self.stdout, "wb") as stdout, open(self.stderr, "wb") as stderr:
            self.proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=env, cwd=logs)
        self.started, self.started_ns = time.monotonic(), time.time_ns()

    def wait(self, until: float | None = None) -> int | None:
        """The exit code (negative: the signal that ended it); None if still running at ``until``
        seconds after the start."""
        while self.proc.poll() is None:
            if until is not None and time.monotonic() - self.started >= until:
                return None
            time.sleep(0.005)
        return self.proc.returncode

    def training(self, metrics: Path) -> bool:
        """Whether it has begun training: the trainer writes metrics.jsonl as it starts its loop
        (emptied on a fresh start, rewritten from last/ on a resume)."""
        return metrics.exists() and metrics.stat().st_mtime_ns >= self.started_ns

    def err(self) -> str:
        return self.stderr.read_text()


def last_step(out: Path) -> int | None:
    """The step a resume would continue from (None: no checkpoint); the checkpoint must verify."""
    from lmlineage.checkpoint.directory import recoverable, verify

    source = recoverable(out / "last")
    if source is None:
        return None
    verify(source)
    return json.loads((source / "trainer_state.json").read_text())["step"]


def report(life: Life, run: Path) -> str:
    """What a finished life printed as its result (the run directory named RUN)."""
    return life.stdout.read_text().split("\nval loss ", 1)[-1].replace(str(run), "RUN")


def test_sigkill_and_sigint_then_resume_with_the_default_flags(kill_test, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    reference, out = tmp_path / "reference", tmp_path / "run"

    # The uninterrupted run, timed: its start-up and its training. Its final evaluation goes on
    # beside the interrupted lives.
    uninterrupted = Life(reference, False, logs, 0)
    began = trained = None
    while trained is None and uninterrupted.proc.poll() is None:
        metrics = reference / "metrics.jsonl"
        if began is None and uninterrupted.training(metrics):
            began = time.monotonic() - uninterrupted.started
        if metrics.exists() and f'"step": {STEPS}, "loss"' in metrics.read_text():
            trained = time.monotonic() - uninterrupted.started
        time.sleep(0.005)
    assert began is not None and trained is not None, uninterrupted.err()

    story = []

    def start(index: int) -> Life:
        """The next life: `--resume`, which is refused in one line where there is no run yet
        (killed before run.json): then the run is started afresh."""
        life = Life(out, True, logs, index)
        if (out / "run.json").exists() or last_step(out) is not None:
            return life
        assert life.wait() == 2
        assert life.err().startswith("error: --resume:") and "without --resume" in life.err(), life.err()
        assert life.err().count("\n") == 1
        story.append("    --resume refused in one line (no run yet): started afresh")
        return Life(out, False, logs, index + 0.5)

    rng = random.Random(SEED)
    moments = list(MOMENTS)
    rng.shuffle(moments)
    for index, (sig, where) in enumerate(moments, 1):
        step = last_step(out) or 0
        life = start(index) if index > 1 else Life(out, False, logs, index)
        if where == "start-up":  # within the uninterrupted run's start-up time
            delay = rng.uniform(0, began)
        else:  # once it trains, within the time the uninterrupted run took for the steps left
            while not life.training(out / "metrics.jsonl") and life.proc.poll() is None:
                time.sleep(0.005)
            delay = time.monotonic() - life.started + rng.uniform(0, (trained - began) * (STEPS - step) / STEPS)
        code = life.wait(until=delay)
        if code is None:
            life.proc.send_signal(sig)
            code = life.wait()
        err = life.err()
        if sig == signal.SIGINT and code == -signal.SIGINT:
            # Ctrl-C before the interpreter has run any of our code: Python's own traceback
            assert err.rstrip().endswith("KeyboardInterrupt") and "lmlineage" not in err, err
        else:
            assert "Traceback" not in err, err
            assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130), (code, err)
        now = last_step(out)
        story.append(f"life {index} (from step {step}): {sig.name} after {delay:.1f} s ({where}); "
                     f"last/ at step {now}")
        if where == "training":  # SIGINT saves the step under way; SIGKILL saves nothing
            assert (now > step) if sig == signal.SIGINT else (now or 0) == step, story[-1]

    life = start(len(moments) + 1)  # the last one goes on to the end, with --resume and nothing else
    assert life.wait() == 0, life.err()
    story.append(f"life {len(moments) + 1}: to the end in {time.monotonic() - life.started:.1f} s")
    assert uninterrupted.wait() == 0, uninterrupted.err()
    story.append(f"the uninterrupted run: training from {began:.1f} s to {trained:.1f} s, "
                 f"done after {time.monotonic() - uninterrupted.started:.1f} s")
    print("\n".join(story))

    assert kill_test.compare(reference, out) == []  # metrics.jsonl, weights, optimizer, trainer state
    assert report(life, out) == report(uninterrupted, reference)  # val loss, bits per char, sample
    losses = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert [r["step"] for r in losses] == [25, 50, STEPS]
