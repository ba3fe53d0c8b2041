"""Kill test: SIGKILL a small CPU training run at random moments, resume it each time, and prove
that no checkpoint is ever unreadable and that the final state is bit-identical to a run that was
never interrupted.

    python benchmarks/kill_test.py --kills 100            # ~3 minutes on 2 busy cores
    python benchmarks/kill_test.py --kills 5 --mode cli   # the real `python -m lmlineage train`

The training run is ``lmlineage.train`` (the same function the CLI calls): a 2-layer GPT-2 on a
small synthetic corpus, evaluating and checkpointing ``last/`` (and ``best/`` when it improves)
after every step, so most of its time is spent writing checkpoints. ``--mode fork`` forks it from
this process, with torch and lmlineage already imported, so a life lasts milliseconds to seconds
rather than an interpreter start; ``--mode cli`` starts ``python -m lmlineage train ... --resume``
for every life instead (the `tiny` preset: the CLI has no width override; slower).

Each life is killed with SIGKILL after a delay drawn uniformly from ``[0, --max-delay]`` seconds
from its start. Then, with the run stopped:

* a kill "landed during a checkpoint write" when the killed process left its own temporary
  directories behind (``.last.tmp-PID``, ``.last.old-PID``, likewise for best/): observed on disk,
  with no hook in the library. The phase is reported: writing the new copy, between the swap's two
  renames (``last/`` missing, only the old copy left), or removing the old copy;
* ``last/`` and ``best/`` -- or, where a kill fell between the two renames, the old copy that
  ``checkpoint.recover`` will restore (``checkpoint.recoverable``) -- must verify against their
  manifests and load (weights, optimizer tensors, trainer state), and their step never goes back;
* the next life resumes (``resume=True`` as soon as a checkpoint is recoverable).

A run that reaches its last step ends a round: its ``last/`` and ``best/`` (weights, optimizer
moments, trainer state with RNG and data position) must equal the uninterrupted run's bit for bit,
its ``metrics.jsonl`` must hold the same records (throughput aside), ``loss.png`` must be whole,
and no temporary directory may be left. Rounds repeat until ``--kills`` kills have been made.

Random delays almost never hit the microseconds between the swap's two renames, so
``--targeted K`` (fork mode) adds K kills placed exactly there: the child wraps ``os.rename`` (in
the child only) and SIGKILLs itself right after moving ``last/`` aside. They are counted apart.

What this does not show: SIGKILL leaves the page cache alone, so it proves the rename protocol and
recovery, not the fsyncs against a power cut.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import threading
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

TRAIN = dict(preset="tiny", context=16, batch_size=4, warmup=5, eval_interval=1, eval_batches=1)
FORK_MODEL = dict(n_layer=2, attention=dict(n_head=4), d_model=32)  # fork mode: small, so most time is checkpointing
DEFAULTS = {"fork": dict(steps=30, max_delay=1.5), "cli": dict(steps=10, max_delay=15.0)}
LITTER = re.compile(r"^\.(last|best|step-\d+)\.(tmp|old)-(\d+)$")
PHASES = ("writing the new copy", "between the two renames", "removing the old copy")


@dataclass
class Kill:
    index: int
    round: int
    delay: float  # seconds after the start of the life: drawn (targeted: when it died)
    pid: int
    targeted: bool
    phase: str | None  # None: not inside a checkpoint write
    last_step: int | None  # the step of the checkpoint a resume would read, after the kill


@dataclass
class Report:
    mode: str
    steps: int
    max_delay: float
    kills: int = 0  # random kills
    during_write: int = 0
    phases: dict = field(default_factory=lambda: dict.fromkeys(PHASES, 0))
    targeted: int = 0
    targeted_recovered: int = 0
    unreadable: int = 0
    rounds: int = 0
    identical_rounds: int = 0
    max_litter: int = 0  # most temporary directories seen at once after a kill
    leaked_scratch: int = 0  # tokenizer scratch directories killed lives left in TMPDIR
    seconds: float = 0.0
    reference_seconds: float = 0.0
    failures: list = field(default_factory=list)
    log: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.unreadable == 0 and self.rounds > 0 and self.identical_rounds == self.rounds

    def text(self) -> str:
        model = "gpt2 2 layers x 32" if self.mode == "fork" else "gpt2 tiny preset"
        phases = ", ".join(f"{name} {n}" for name, n in self.phases.items())
        lines = [
            f"kill test: {self.kills} SIGKILLs at uniform random delays in [0, {self.max_delay:g}] s "
            f"({self.mode} mode, {model}, {self.steps} steps, a checkpoint after every step)",
            f"  kills during a checkpoint write: {self.during_write} / {self.kills} ({phases})",
        ]
        if self.targeted:
            lines.append(f"  targeted kills between the two renames: {self.targeted}, "
                         f"recovered {self.targeted_recovered} / {self.targeted}")
        lines += [
            f"  unreadable checkpoints: {self.unreadable}",
            f"  rounds trained to the end: {self.rounds}, bit-identical to the uninterrupted run: "
            f"{self.identical_rounds} / {self.rounds}",
            f"  temporary directories: at most {self.max_litter} at once after a kill, 0 left at the end of "
            f"every round{'' if not any('left behind' in f for f in self.failures) else ' -- NO'}",
            f"  tokenizer scratch directories left in TMPDIR by kills: {self.leaked_scratch}",
            f"  time: {self.seconds:.0f} s (the uninterrupted run: {self.reference_seconds:.1f} s)",
            f"  result: {'PASS' if self.ok else 'FAIL'}",
        ]
        lines += [f"  failure: {f}" for f in self.failures[:20]]
        return "\n".join(lines)


def corpus(path: Path) -> Path:
    """A small deterministic text (about 25 kB) for a char tokenizer."""
    rng = random.Random(0)
    words = ("the king queen rome speak lord night day love death sword crown my good sir what "
             "shall we do now is it not so come away").split()
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(400)) + "\n")
    return path


# ---- one life of the training run -----------------------------------------------------------------

class Life:
    """A training process: forked from this one (``fork``) or ``python -m lmlineage train`` (``cli``)."""

    def __init__(self, mode: str, out: Path, data: Path, steps: int, seed: int, resume: bool, tmpdir: Path,
                 logfile: Path, die_between_renames: bool = False):
        self.mode, self.started = mode, time.monotonic()
        if mode == "fork":
            sys.stdout.flush()
            sys.stderr.flush()
            self.pid = os.fork()
            if self.pid == 0:  # the child: never returns
                _child(out, data, steps, seed, resume, tmpdir, logfile, die_between_renames)
            self.proc = None
        else:
            cmd = [sys.executable, "-m", "lmlineage", "train", "gpt2", "--data", str(data), "--steps", str(steps),
                   "--seed", str(seed), "--out", str(out), "--no-progress",
                   *[f"--{k.replace('_', '-')}={v}" for k, v in TRAIN.items()], *(["--resume"] if resume else [])]
            env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TMPDIR=str(tmpdir))
            with open(logfile, "a") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            self.pid = self.proc.pid

    def wait(self, timeout: float | None) -> str | None:
        """``"done"``, ``"killed"`` (by a signal) or ``"failed"``; ``None``: still running at the timeout."""
        deadline = None if timeout is None else self.started + timeout
        while True:
            if self.proc is not None:
                code = self.proc.poll()
            else:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                code = None if pid == 0 else (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
                                              else os.WEXITSTATUS(status))
            if code is not None:
                return "done" if code == 0 else "killed" if code == -signal.SIGKILL else "failed"
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.002)

    def kill(self) -> str:
        os.kill(self.pid, signal.SIGKILL)  # a zombie (already exited) takes it silently
        return self.wait(None)


def _child(out, data, steps, seed, resume, tmpdir, logfile, die_between_renames) -> None:
    code = 1
    try:
        log = open(logfile, "a", buffering=1)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
        import torch
        from tqdm import tqdm
        from tqdm.std import TqdmDefaultWriteLock

        # A lock some thread of the parent held at the fork (tqdm's monitor thread takes its write
        # lock) stays held in the child forever: give the child its own before any progress bar
        # (class-level locks, so replaced on the class; the child's bars need no cross-process lock).
        TqdmDefaultWriteLock.th_lock, TqdmDefaultWriteLock.mp_lock = threading.RLock(), None
        tqdm.set_lock(TqdmDefaultWriteLock())
        torch.set_num_threads(1)  # as a DataLoader worker does: fork-safe, and the same numerics every life
        tempfile.tempdir = str(tmpdir)
        if die_between_renames:
            real_rename = os.rename

            def rename(src, dst, *args, **kwargs):
                real_rename(src, dst, *args, **kwargs)
                if Path(dst).name.startswith(".last.old-"):  # last/ moved aside, the new one not yet in
                    os.kill(os.getpid(), signal.SIGKILL)

            os.rename = rename  # this child only
        from lmlineage.api import train

        train("gpt2", data=str(data), steps=steps, seed=seed, out=str(out), resume=resume, progress=False,
              sample_tokens=0, config=FORK_MODEL, **TRAIN)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
        finally:
            os._exit(code)


# ---- checks ---------------------------------------------------------------------------------------

def litter(out: Path, pid: int | None = None) -> list[Path]:
    """Temporary directories (and files) of interrupted writes in ``out``; of one process if ``pid``."""
    found = []
    for p in out.iterdir() if out.exists() else ():
        m = LITTER.match(p.name)
        if m and (pid is None or int(m.group(3)) == pid):
            found.append(p)
    return sorted(found)


def phase(out: Path, pid: int) -> str | None:
    """Where in a checkpoint write process ``pid`` was killed, from what it left on disk."""
    left = litter(out, pid)
    if not left:
        return None
    names = {LITTER.match(p.name).group(1) for p in left}
    for name in names:
        if not (out / name).exists() and (out / f".{name}.old-{pid}").exists():
            return PHASES[1]
    if any(LITTER.match(p.name).group(2) == "tmp" for p in left):
        return PHASES[0]
    return PHASES[2]


def readable(directory: Path) -> dict:
    """Verify and load a checkpoint directory; its trainer state. Raises on any damage."""
    from safetensors.torch import load_file

    from lmlineage.checkpoint.directory import verify
    from lmlineage.checkpoint.model import load_model
    from lmlineage.models import build_model

    verify(directory)
    load_model(directory, build_model)
    load_file(str(directory / "optimizer.safetensors"))
    state = json.loads((directory / "trainer_state.json").read_text())
    json.loads((directory / "tokenizer.json").read_text())
    return state


def check_after_kill(out: Path, seen: dict, report: Report, where: str) -> int | None:
    """Every checkpoint a resume could read is whole; none vanished or went back; best/ is at least
    as good as the best model last/ knows of. The step of last/."""
    from lmlineage.checkpoint.directory import recoverable

    last_step, states = None, {}
    for name in ("last", "best"):
        source = recoverable(out / name)
        if source is None:
            if name in seen:
                report.failures.append(f"{where}: {name}/ is gone and nothing can restore it")
            continue
        try:
            states[name] = readable(source)
            step = int(states[name]["step"])
        except Exception as e:  # noqa: BLE001 -- any failure to read is the finding
            report.unreadable += 1
            report.failures.append(f"{where}: {source.name} is unreadable: {type(e).__name__}: {e}")
            continue
        if step < seen.get(name, 0):
            report.failures.append(f"{where}: {name}/ went back from step {seen[name]} to {step}")
        seen[name] = step
        if name == "last":
            last_step = step
    if "best" in states and "last" in states and states["last"]["best_val"] is not None:
        if states["best"]["best_val"] > states["last"]["best_val"]:
            report.failures.append(f"{where}: best/ (step {states['best']['step']}, val loss "
                                   f"{states['best']['best_val']}) is not the best model last/ knows of "
                                   f"(val loss {states['last']['best_val']}): a resume will never write it")
    return last_step


def _tensors(path: Path) -> dict:
    """Every tensor of a safetensors file as (dtype, shape, raw bytes): compared bit for bit."""
    import torch
    from safetensors.torch import load_file

    return {k: (str(v.dtype), tuple(v.shape), v.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
            for k, v in load_file(str(path)).items()}


def _metrics(path: Path) -> list[dict]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in records]


def compare(reference: Path, out: Path) -> list[str]:
    """Differences between a finished run and the uninterrupted one (empty: bit-identical)."""
    problems = []
    for name in ("last", "best"):
        for file in ("model.safetensors", "optimizer.safetensors"):
            a, b = _tensors(reference / name / file), _tensors(out / name / file)
            if a.keys() != b.keys():
                problems.append(f"{name}/{file}: different tensors")
            problems += [f"{name}/{file}: {k} differs" for k in sorted(a.keys() & b.keys()) if a[k] != b[k]][:5]
        for file in ("trainer_state.json", "tokenizer.json", "config.json"):
            if (reference / name / file).read_bytes() != (out / name / file).read_bytes():
                problems.append(f"{name}/{file} differs")
        if _metrics(reference / name / "metrics.jsonl") != _metrics(out / name / "metrics.jsonl"):
            problems.append(f"{name}/metrics.jsonl holds different records")
    if _metrics(reference / "metrics.jsonl") != _metrics(out / "metrics.jsonl"):
        problems.append("metrics.jsonl holds different records")
    png = (out / "loss.png").read_bytes() if (out / "loss.png").exists() else b""
    if not png.startswith(b"\x89PNG") or not png.endswith(b"IEND\xaeB`\x82"):
        problems.append("loss.png is missing or cut short")
    left = litter(out) + [p for p in [out / ".loss.png.tmp"] if p.exists()]
    if left:
        problems.append(f"temporary directories left behind: {[p.name for p in left]}")
    return problems


# ---- the test -------------------------------------------------------------------------------------

def run_kill_test(kills: int = 100, workdir: str | Path | None = None, *, mode: str = "fork",
                  steps: int | None = None, max_delay: float | None = None, targeted: int = 0, seed: int = 0,
                  verbose: bool = False) -> Report:
    """Kill a training run ``kills`` times at random moments (plus ``targeted`` kills between the two
    renames of a checkpoint swap, fork mode only), resuming after each; see the module docstring."""
    if mode not in DEFAULTS:
        raise ValueError(f"mode must be fork or cli, not {mode!r}")
    if targeted and mode != "fork":
        raise ValueError("targeted kills need fork mode (the child patches os.rename)")
    steps = steps or DEFAULTS[mode]["steps"]
    max_delay = DEFAULTS[mode]["max_delay"] if max_delay is None else max_delay
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="lmlineage-kill-"))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tmpdir, logfile = workdir / "tmp", workdir / "child.log"
    tmpdir.mkdir(exist_ok=True)
    data = corpus(workdir / "small.txt")
    report = Report(mode=mode, steps=steps, max_delay=max_delay)
    rng = random.Random(seed)
    say = print if verbose else (lambda *a, **k: None)
    if mode == "fork":
        _warm_imports()
    started = time.perf_counter()

    def start(out: Path, die: bool = False) -> Life:
        from lmlineage.checkpoint.directory import recoverable

        resume = recoverable(out / "last") is not None
        return Life(mode, out, data, steps, seed, resume, tmpdir, logfile, die)

    def fail(life: Life, what: str) -> None:
        tail = logfile.read_text()[-3000:] if logfile.exists() else ""
        raise RuntimeError(f"the training process {what} (pid {life.pid}); the end of {logfile}:\n{tail}")

    # The uninterrupted run.
    reference = workdir / "reference"
    t0 = time.perf_counter()
    life = start(reference)
    if life.wait(None) != "done":
        fail(life, "of the uninterrupted run failed")
    report.reference_seconds = time.perf_counter() - t0
    say(f"uninterrupted run: {report.reference_seconds:.1f} s")

    total = kills + targeted
    targeted_at = set(rng.sample(range(total), targeted))
    index, rnd = 0, 0
    while True:  # one round: a fresh run directory, killed until it finishes
        rnd += 1
        out, seen = workdir / f"run-{rnd:03d}", {}
        while True:
            aim = index in targeted_at if index < total else False
            life, delay = start(out, die=aim), None
            if index >= total:  # every kill made: let it finish
                outcome = life.wait(None)
            elif aim:
                outcome = life.wait(600)  # it kills itself at its first swap of last/
                if outcome is None:
                    outcome = life.kill()
                    report.failures.append("a targeted life did not die at the swap within 600 s")
            else:
                delay = rng.uniform(0, max_delay)
                outcome = life.wait(delay) or life.kill()
            if outcome == "failed":
                fail(life, "failed")
            if outcome == "done":
                break
            # killed
            where = f"kill {index + 1} (round {rnd}, pid {life.pid})"
            at = phase(out, life.pid)
            report.max_litter = max(report.max_litter, len(litter(out)))
            unreadable_before = report.unreadable
            failures_before = len(report.failures)
            last_step = check_after_kill(out, seen, report, where)
            kill = Kill(index + 1, rnd, round(delay if delay is not None else time.monotonic() - life.started, 4),
                        life.pid, aim, at, last_step)
            report.log.append(asdict(kill))
            if aim:
                report.targeted += 1
                clean = report.unreadable == unreadable_before and len(report.failures) == failures_before
                if at == PHASES[1] and clean:
                    report.targeted_recovered += 1
                elif at != PHASES[1]:
                    report.failures.append(f"{where}: the targeted kill left {at!r}, not 'between the two renames'")
            else:
                report.kills += 1
                if at is not None:
                    report.during_write += 1
                    report.phases[at] += 1
            say(f"{where}: {'targeted ' if aim else ''}after {kill.delay:.3f} s, "
                f"{at or 'outside a checkpoint write'}; resume from step {last_step}")
            index += 1
        report.rounds += 1
        problems = compare(reference, out)
        if problems:
            report.failures += [f"round {rnd}: {p}" for p in problems]
        else:
            report.identical_rounds += 1
        say(f"round {rnd} finished: {'bit-identical' if not problems else problems}")
        if index >= total:
            break
    report.leaked_scratch = sum(1 for p in tmpdir.iterdir() if p.name.startswith("lmlineage-"))
    report.seconds = time.perf_counter() - started
    return report


def _warm_imports() -> None:
    """Import, here and once, what a life would otherwise import itself (torch._dynamo comes with the
    optimizer, matplotlib with the loss curve): forked lives then start training at once."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import torch._dynamo  # noqa: F401

    import lmlineage.api  # noqa: F401
    import lmlineage.data.corpora  # noqa: F401
    import lmlineage.data.tokens  # noqa: F401
    import lmlineage.models  # noqa: F401
    import lmlineage.tasks.causal_lm  # noqa: F401
    import lmlineage.tokenizers  # noqa: F401
    import lmlineage.train.trainer  # noqa: F401


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kills", type=int, default=100, help="random SIGKILLs to deliver (default 100)")
    ap.add_argument("--targeted", type=int, default=None,
                    help="extra kills exactly between the swap's two renames (fork mode; default 5, cli 0)")
    ap.add_argument("--mode", choices=sorted(DEFAULTS), default="fork")
    ap.add_argument("--steps", type=int, default=None, help="training steps per run (fork 30, cli 10)")
    ap.add_argument("--max-delay", type=float, default=None, help="kill delays are uniform in [0, this] seconds "
                    "(fork 1.5, cli 15)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill delays and of the training run")
    ap.add_argument("--workdir", default=None, help="where the runs go (default: a new temporary directory)")
    ap.add_argument("--json", default=None, help="also write the report, with every kill, to this file")
    ap.add_argument("--verbose", action="store_true", help="a line per kill")
    args = ap.parse_args(argv)
    targeted = args.targeted if args.targeted is not None else (5 if args.mode == "fork" else 0)
    report = run_kill_test(args.kills, args.workdir, mode=args.mode, steps=args.steps, max_delay=args.max_delay,
                           targeted=targeted, seed=args.seed, verbose=args.verbose)
    print(report.text())
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=1) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
