"""Non-finite losses are skipped and, K in a row, rolled back; deterministic mode repeats."""

import numpy as np
import torch

from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.tasks.causal_lm import CausalLMTask
from lmlineage.train.trainer import TrainConfig, Trainer

TOKENS = np.random.default_rng(0).integers(0, 30, 3000).astype(np.uint16)


class PoisonedTask(CausalLMTask):
    """Returns NaN on the calls listed in ``poison`` (counted across the run)."""

    def __init__(self, model, poison):
        super().__init__(model)
        self.poison, self.calls = set(poison), 0

    def forward(self, batch):
        loss = super().forward(batch)
        self.calls += 1
        return loss * float("nan") if self.calls in self.poison else loss


def trainer(out, task=None, steps=12, deterministic=False, **kw):
    torch.manual_seed(0)
    model = build_model(get_family("gpt2").config("tiny", vocab_size=30, n_layer=1, d_model=16,
                                                  attention=dict(n_head=2), max_positions=8, dropout=0.1))
    task = task(model) if task else CausalLMTask(model)
    cfg = TrainConfig(steps=steps, batch_size=4, context=8, warmup=2, log_interval=1, eval_batches=1,
                      progress=False, deterministic=deterministic, **kw)
    return Trainer(task, TOKENS[:2500], TOKENS[2500:], cfg, out)


def test_single_non_finite_step_is_skipped(tmp_path):
    t = trainer(tmp_path, task=lambda m: PoisonedTask(m, {4}))
    t.fit()
    assert t.skipped == 1
    assert all(torch.isfinite(p).all() for p in t.task.parameters())
    assert any(r.get("skipped") for r in t.history)


def test_k_non_finite_steps_roll_back_with_lower_lr(tmp_path):
    t = trainer(tmp_path, task=lambda m: PoisonedTask(m, {6, 7, 8}), eval_interval=4, max_bad_steps=3)
    t.fit()
    rollbacks = [r for r in t.history if "rollback" in r]
    assert len(rollbacks) == 1 and rollbacks[0]["step"] == 4 and rollbacks[0]["lr_scale"] == 0.5
    assert t.step == 12 and t.lr_scale == 0.5
    assert all(torch.isfinite(p).all() for p in t.task.parameters())


def test_deterministic_mode_repeats_the_loss_curve(tmp_path):
    curves = []
    for run in range(2):
        t = trainer(tmp_path / str(run), deterministic=True)
        t.fit()
        curves.append([r["loss"] for r in t.history if "loss" in r])
    torch.use_deterministic_algorithms(False)
    assert curves[0] == curves[1] and len(curves[0]) == 12


def test_keep_last_n(tmp_path):
    t = trainer(tmp_path, eval_interval=2, keep_last=3)
    t.fit()
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000008", "step-00000010"]
    assert (tmp_path / "last").exists() and (tmp_path / "best").exists()
