"""The one trainer. It knows no family: it sees ``task(batch) -> loss`` and
``task.evaluate(batches) -> {"loss", "nats", "tokens"}``.

AdamW with decay / no-decay groups, warmup + cosine schedule, gradient clipping and
accumulation, bf16 autocast on GPU, opt-in torch.compile, periodic evaluation, atomic
best/last checkpoints with exact resume (last/ also every ``save_interval_s`` and on SIGINT or
SIGTERM), a progress bar (plain lines off a terminal) refreshed every ``log_interval`` steps
(the only host syncs), metrics as JSONL and a loss-curve PNG.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..checkpoint.directory import atomic_directory, recover, recover_run, verify
from ..checkpoint.model import save_model_files
from ..core.errors import UserError
from ..data.batches import RandomWindows, packed_window_batches, packed_windows
from ..tasks.protocol import TASK_WEIGHTS
from . import distributed
from .progress import on_terminal, progress
from .schedule import inverse_sqrt_peak, warmup_cosine
from .state import generator_from_json, generator_to_json, load_optimizer_tensors, optimizer_tensors, rng_state, set_rng_state


MAX_STEPS = 10**8  # --steps and --warmup beyond this are typos, not runs
SAVE_INTERVAL_S = 300.0  # a run killed at any moment loses at most this much work


class StopSignals:
    """SIGINT and SIGTERM while training are noted (``received``) so the loop can finish its step
    and save before it stops; a second signal stops at once. Installed only in the main thread."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.received: int | None = None
        self.previous: dict = {}

    def __enter__(self):
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _note(self, signum, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def stop(self, what: str) -> None:
        print(f"{what}; stopping on {signal.Signals(self.received).name}", file=sys.stderr, flush=True)
        if self.received == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + self.received)


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 12
    context: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    schedule: str = "cosine"  # warmup + cosine, or inverse_sqrt (Vaswani et al. 2017, eq. 3; lr = its peak)
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    grad_accum: int = 1
    eval_interval: int | None = None  # None: evaluate once, at the end
    eval_batches: int | None = None  # None: the whole validation split
    eval_batch_size: int = 64
    log_interval: int = 25
    seed: int = 1337
    device: str = "cpu"
    dtype: str = "float32"  # or bfloat16 / float16: autocast on GPU
    compile: bool = False
    progress: bool = True
    keep_last: int = 1  # how many recent checkpoints to keep besides best/ (last/ is the newest)
    save_interval_s: float = SAVE_INTERVAL_S  # last/ saved at least this often between evaluations (0: only at them)
    max_bad_steps: int = 3  # after this many non-finite losses in a row, roll back to last/
    deterministic: bool = False
    parallel: str = "ddp"  # under torchrun: ddp (replicate) or fsdp (shard with FSDP2)
    activation_checkpointing: bool = False
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        for name in ("steps", "batch_size", "context", "grad_accum", "log_interval", "keep_last"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name, low in (("steps", 1), ("warmup", 0)):
            value = getattr(self, name)
            if not low <= value <= MAX_STEPS:
                raise UserError(f"--{name} {value} is out of range [{low}, {MAX_STEPS}]",
                                f"give --{name} in that range ({MAX_STEPS} steps take weeks even for a tiny model)")
        if not self.lr > 0:
            raise UserError(f"--lr must be > 0, got {self.lr}")
        if self.schedule not in ("cosine", "inverse_sqrt"):
            raise UserError(f"--schedule {self.schedule!r} is not one of cosine, inverse_sqrt")
        if self.schedule == "inverse_sqrt" and self.warmup < 1:
            raise UserError("the inverse square root schedule needs --warmup >= 1")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise UserError(f"--dtype {self.dtype!r} is not one of float32, bfloat16, float16")


def read_metrics(run_dir: str | Path) -> list[dict]:
    """A run's records, oldest first: one per logged step and one per evaluation (``metrics.jsonl``)."""
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def parameter_groups(model: torch.nn.Module, weight_decay: float):
    """Decay matrices and embeddings; leave biases and norm gains alone (as GPT-2/nanoGPT)."""
    decay, no_decay = [], []
    for p in {id(p): p for p in model.parameters() if p.requires_grad}.values():
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Trainer:
    def __init__(self, task, train_tokens, val_tokens, cfg: TrainConfig, out: Path, tokenizer=None):
        cfg.validate()
        self.task, self.cfg, self.out = task, cfg, Path(out)
        self.train_tokens, self.val_tokens = train_tokens, val_tokens
        self.tokenizer = tokenizer  # saved beside the weights in every checkpoint
        self.rank, self.world = distributed.world()
        self.device = distributed.local_device(cfg.device)
        if cfg.batch_size % self.world:
            raise UserError(f"--batch-size {cfg.batch_size} is not divisible by the {self.world} processes",
                            f"use a multiple of {self.world}")
        random.seed(cfg.seed)  # every generator a checkpoint captures: the same seed, the same run
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        if cfg.activation_checkpointing:
            for module in task.modules():
                if hasattr(module, "checkpointing"):
                    module.checkpointing = True
        self.task.to(self.device)
        self.module = distributed.wrap(task, cfg.parallel, self.device) if self.world > 1 else task
        # The fused kernel updates every parameter in one pass (CPU and CUDA alike); FSDP's
        # sharded DTensor parameters take the default multi-tensor path.
        fused = self.world == 1 and self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.AdamW(
            parameter_groups(task, cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas), fused=fused,
        )
        self.names = {id(p): n for n, p in task.named_parameters()}
        if hasattr(train_tokens, "sampler"):  # data with its own batches (e.g. sequence pairs)
            self.batches = train_tokens.sampler(cfg.batch_size, seed=cfg.seed, rank=self.rank, world=self.world)
        else:
            self.batches = RandomWindows(train_tokens, cfg.context, cfg.batch_size, seed=cfg.seed,
                                         rank=self.rank, world=self.world)
        self.step = 0
        self.bad_steps = 0  # consecutive non-finite losses
        self.skipped = 0
        self.lr_scale = 1.0  # lowered after a rollback
        self.best_val = math.inf
        self.history: list[dict] = []
        self.forward = torch.compile(self.module) if cfg.compile else self.module
        use_autocast = cfg.dtype != "float32" and self.device.type == "cuda"
        self.autocast = torch.autocast(self.device.type, dtype=getattr(torch, cfg.dtype), enabled=use_autocast)

    # ---- the loop -------------------------------------------------------------------------
    def fit(self, stop_at: int | None = None) -> dict:
        """Train to ``cfg.steps`` (or pause at ``stop_at``: the schedule still spans ``cfg.steps``).
        SIGINT or SIGTERM ends the step under way, saves last/ and stops (KeyboardInterrupt,
        SystemExit 143); under torchrun the launcher's own handling stays."""
        with StopSignals(enabled=self.world == 1) as self.signals:
            return self._fit(stop_at)

    def _fit(self, stop_at: int | None) -> dict:
        cfg = self.cfg
        end = min(cfg.steps, stop_at or cfg.steps)
        self.out.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:
            recover_run(self.out)  # litter of a crashed attempt, also one that died before last/ existed
        if self.step == 0 and not self.history and self.rank == 0:
            (self.out / "metrics.jsonl").write_text("")  # a fresh start: drop a crashed attempt's records
        bar = progress(cfg.steps, self.step, cfg.progress and self.rank == 0)
        tokens_per_step = cfg.batch_size * cfg.context * cfg.grad_accum
        t0, last_logged = time.perf_counter(), self.step
        last_saved = time.monotonic()
        result = {}
        while self.step < end:
            if cfg.schedule == "inverse_sqrt":
                lr = self.lr_scale * inverse_sqrt_peak(self.step, lr=cfg.lr, warmup=cfg.warmup)
            else:
                lr = self.lr_scale * warmup_cosine(self.step, lr=cfg.lr, min_lr=cfg.min_lr, warmup=cfg.warmup,
                                                   total=cfg.steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.task.train()
            total = torch.zeros((), device=self.device)
            for _ in range(cfg.grad_accum):
                inputs, targets = next(self.batches)
                inputs, targets = inputs.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)
                with self.autocast:
                    loss = self.forward((inputs, targets)) / cfg.grad_accum
                loss.backward()
                total += loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), cfg.grad_clip) if cfg.grad_clip else None
            if self.world > 1:
                total = distributed.mean(total)  # every rank skips (or takes) the step together
            if self._finite(total):
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            if self.bad_steps >= cfg.max_bad_steps:
                self._roll_back(bar)
                continue

            if self.step % cfg.log_interval == 0 or self.step == cfg.steps:
                loss_value = float(total)  # the one host sync, every log_interval steps
                elapsed = time.perf_counter() - t0
                tps = tokens_per_step * (self.step - last_logged) / max(elapsed, 1e-9)
                t0, last_logged = time.perf_counter(), self.step
                record = {"step": self.step, "loss": loss_value, "lr": lr, "tokens_per_s": tps}
                if grad_norm is not None:
                    record["grad_norm"] = float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm)
                self._log(record)
                bar.set_postfix(loss=f"{loss_value:.4f}", tok_s=f"{tps:,.0f}")
                bar.update(self.step - bar.n)
            eval_due = cfg.eval_interval and self.step % cfg.eval_interval == 0
            if eval_due or self.step == cfg.steps:
                result = self.evaluate()
                extra = {f"val_{k}": v for k, v in result.items() if k not in ("loss", "nats", "tokens")}
                self._log({"step": self.step, "val_loss": result["loss"], **extra})  # + e.g. val_accuracy
                if self.rank == 0:
                    bar.write(f"step {self.step}: val loss {result['loss']:.4f}")
                improved = result["loss"] < self.best_val
                self.best_val = min(self.best_val, result["loss"])
                self._rotate_last()
                if improved:  # best/ first: a crash between the two then redoes this step, best/ included
                    self.save(self.out / "best")
                self.save(self.out / "last")
                t0, last_saved = time.perf_counter(), time.monotonic()  # evaluation time is not throughput
            elif self._save_due(last_saved) or self.signals.received:
                self._rotate_last()
                self.save(self.out / "last")
                t0, last_saved = time.perf_counter(), time.monotonic()
            if self.signals.received:
                bar.close()
                self.signals.stop(f"step {self.step}: saved {self.out / 'last'}")
        bar.close()
        self.plot()
        return result

    def _save_due(self, last_saved: float) -> bool:
        """Time to save last/ between evaluations: checked at log intervals; under torchrun every
        rank takes rank 0's clock, since saving is collective."""
        if not self.cfg.save_interval_s or self.step % self.cfg.log_interval:
            return False
        due = torch.tensor(float(time.monotonic() - last_saved >= self.cfg.save_interval_s), device=self.device)
        if self.world > 1:
            torch.distributed.broadcast(due, src=0)
        return bool(due)

    def _finite(self, loss: torch.Tensor) -> bool:
        """Skip steps whose loss is not finite. On CPU the check costs nothing; on an accelerator
        it would be a host sync every step, so there it runs at log intervals only (a bad step in
        between is caught there and undone by the rollback)."""
        if self.device.type != "cpu" and (self.step + 1) % self.cfg.log_interval:
            return True
        if bool(torch.isfinite(loss)):
            self.bad_steps = 0
            return True
        self.bad_steps += 1
        self.skipped += 1
        self._log({"step": self.step + 1, "skipped": "non-finite loss"})
        return False

    def _roll_back(self, bar) -> None:
        """Restore last/ and halve the learning rate: the run goes on from the last good state."""
        last = self.out / "last"
        if not (last / "trainer_state.json").exists():
            raise UserError(f"the loss was not finite for {self.bad_steps} steps in a row and there is no "
                            "checkpoint to roll back to", "lower --lr or raise --warmup")
        scale = self.lr_scale / 2
        self.resume(last)
        self.lr_scale, self.bad_steps = scale, 0
        bar.write(f"step {self.step}: {self.cfg.max_bad_steps} non-finite losses in a row; rolled back to "
                  f"{last} (step {self.step}) with the learning rate scaled by {scale:g}")
        self._log({"step": self.step, "rollback": str(last), "lr_scale": scale})

    @torch.no_grad()
    def evaluate(self) -> dict:
        self.task.eval()
        cfg = self.cfg
        if hasattr(self.val_tokens, "batches"):  # data with its own batches (e.g. sequence pairs)
            split, total = self.val_tokens.batches(cfg.eval_batch_size, cfg.eval_batches), cfg.eval_batches
        else:
            split = packed_windows(self.val_tokens, cfg.context, cfg.eval_batch_size, cfg.eval_batches)
            total = packed_window_batches(len(self.val_tokens), cfg.context, cfg.eval_batch_size, cfg.eval_batches)
        # The whole validation split of a large corpus takes minutes: a bar, shown once it has run 2 s.
        split = progress(total, enabled=cfg.progress and self.rank == 0 and on_terminal(), desc="evaluating",
                         unit="batch", iterable=split, transient=True, delay=2)
        batches = ((x.to(self.device), y.to(self.device)) for x, y in split)
        with self.autocast:
            if self.world > 1 and self.cfg.parallel == "fsdp":
                return self.task.evaluate(batches, forward=self.module)  # sharded weights: every rank takes part
            return self.task.evaluate(batches)

    # ---- state ----------------------------------------------------------------------------
    def _rotate_last(self) -> None:
        """Keep the ``keep_last`` newest checkpoints: the current last/ becomes step-N/ before it is
        replaced, and the oldest step-N/ directories go."""
        last = self.out / "last"
        if self.cfg.keep_last > 1 and (last / "trainer_state.json").exists():
            step = json.loads((last / "trainer_state.json").read_text())["step"]
            target = self.out / f"step-{step:08d}"
            if not target.exists():
                with atomic_directory(target, manifest=False) as tmp:  # never a half copy
                    for file in last.iterdir():
                        shutil.copy2(file, tmp / file.name)
        for old in sorted(self.out.glob("step-*"))[: -max(self.cfg.keep_last - 1, 0) or None]:
            shutil.rmtree(old)

    def save(self, directory: Path) -> None:
        """Write a consolidated checkpoint (rank 0; every rank takes part in gathering shards)."""
        model_state = None
        if self.world > 1:
            model_state, optim_state = distributed.full_states(self.task, self.optimizer, self.cfg.parallel)
            if self.rank == 0:  # the consolidated copies exist on rank 0 only
                tensors, opt_json = _flatten_optimizer(optim_state)
                model_state = {k.removeprefix("model."): v for k, v in model_state.items() if k.startswith("model.")}
        else:
            tensors, opt_json = optimizer_tensors(self.optimizer, self.names)
        if self.rank == 0:
            self._write(directory, tensors, opt_json, model_state)
        distributed.barrier()

    def _write(self, directory: Path, tensors: dict, opt_json: dict, model_state: dict | None) -> None:
        state = {
            "step": self.step,
            "best_val": self.best_val if math.isfinite(self.best_val) else None,
            "lr_scale": self.lr_scale,
            "config": asdict(self.cfg),
            "optimizer": opt_json,
            "rng": rng_state(),
            "data": {"generator": generator_to_json(self.batches.state_dict()["generator"])},
        }
        with atomic_directory(directory) as tmp:
            save_model_files(tmp, self.task.model, self.tokenizer, model_state)
            save_file(tensors, str(tmp / "optimizer.safetensors"))
            own = self._task_weights()
            if own:  # trained weights outside the saved model (ELECTRA's generator), for resume
                save_file(own, str(tmp / TASK_WEIGHTS))
            (tmp / "trainer_state.json").write_text(json.dumps(state) + "\n")
            (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in self.history))

    def _task_weights(self) -> dict:
        """Trainable parameters of the task outside ``task.model`` (ELECTRA's generator; not a frozen
        distillation teacher). Under FSDP they stay sharded and are not written."""
        if self.world > 1 and self.cfg.parallel == "fsdp":
            return {}
        return {name: p.detach().contiguous().cpu() for name, p in self.task.named_parameters()
                if p.requires_grad and not name.startswith("model.")}

    def resume(self, directory: Path) -> None:
        """Restore weights, optimizer, schedule position, RNG and data position."""
        directory = Path(directory)
        recover(directory)
        recover(self.out / "best")  # a crash may have been in the middle of replacing best/ too
        verify(directory)
        state_path = directory / "trainer_state.json"
        if not state_path.exists():
            raise UserError(f"{directory} holds no training state", "resume from a run's last/ checkpoint")
        state = json.loads(state_path.read_text())
        model_state = load_file(str(directory / "model.safetensors"))
        unexpected = set(model_state) - set(self.task.model.state_dict())
        if unexpected:
            raise UserError(f"{directory}: weights do not fit this model ({sorted(unexpected)[:3]})")
        optim_tensors = load_file(str(directory / "optimizer.safetensors"))
        if self.world > 1:
            full_model = {f"model.{k}": v for k, v in model_state.items()}
            for name in self.task.state_dict():  # tied copies are stored once
                if name not in full_model and name.startswith("model."):
                    full_model[name] = dict(self.task.model.named_parameters(remove_duplicate=False))[name[6:]].detach()
            distributed.load_full_states(self.task, self.optimizer, full_model,
                                         _unflatten_optimizer(optim_tensors, state["optimizer"]))
        else:
            self.task.model.load_state_dict(model_state, strict=False)
        if (directory / TASK_WEIGHTS).exists():
            unexpected = self.task.load_state_dict(load_file(str(directory / TASK_WEIGHTS)), strict=False)[1]
            if unexpected:
                raise UserError(f"{directory}: task weights do not fit this run ({sorted(unexpected)[:3]})")
        if self.world == 1:
            load_optimizer_tensors(self.optimizer, self.names, optim_tensors, state["optimizer"])
        set_rng_state(state["rng"])
        self.batches.load_state_dict({"generator": generator_from_json(state["data"]["generator"])})
        self.step = state["step"]
        self.lr_scale = state.get("lr_scale", 1.0)
        self.best_val = state["best_val"] if state["best_val"] is not None else math.inf
        self.history = read_metrics(directory) if (directory / "metrics.jsonl").exists() else []
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in self.history))

    # ---- reporting ------------------------------------------------------------------------
    def _log(self, record: dict) -> None:
        self.history.append(record)
        if self.rank != 0:
            return
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def plot(self) -> Path | None:
        train = [(r["step"], r["loss"]) for r in self.history if "loss" in r]
        val = [(r["step"], r["val_loss"]) for r in self.history if "val_loss" in r]
        if not train or self.rank != 0:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(*zip(*train), label="train loss")
        if val:
            ax.plot(*zip(*val), "o-", label="val loss")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats/token)")
        ax.legend()
        ax.grid(alpha=0.3)
        path = self.out / "loss.png"
        tmp = path.with_name(".loss.png.tmp")  # rank 0 only: one writer
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        os.replace(tmp, path)  # a crash never leaves half a picture
        return path


def _flatten_optimizer(optim_state: dict) -> tuple[dict, dict]:
    """A consolidated optimizer state dict (keyed by parameter name) in our on-disk layout."""
    tensors = {f"{name}::{key}": value.detach().contiguous().cpu()
               for name, entry in optim_state["state"].items() for key, value in entry.items()}
    return tensors, {"param_groups": optim_state["param_groups"]}


def _unflatten_optimizer(tensors: dict, json_state: dict) -> dict:
    state: dict = {}
    for full, value in tensors.items():
        name, key = full.rsplit("::", 1)
        state.setdefault(name, {})[key] = value
    return {"state": state, "param_groups": json_state["param_groups"]}
