"""Exact resume: N steps == N/2 steps + resume + N/2 steps, bit for bit on CPU."""

import numpy as np
import torch
from safetensors.torch import load_file

from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.tasks.causal_lm import CausalLMTask
from lmlineage.train.trainer import TrainConfig, Trainer


def make_trainer(out, steps, tokens):
    torch.manual_seed(0)
    cfg = get_family("gpt2").config("tiny", vocab_size=50, n_layer=2, d_model=32, attention=dict(n_head=4),
                     max_positions=16, dropout=0.1)
    model = build_model(cfg)
    
    train_cfg = TrainConfig(steps=steps, batch_size=4, context=16, warmup=3, log_interval=2, eval_interval=steps // 2,
                            eval_batches=2, progress=False, seed=7)
    return Trainer(CausalLMTask(model), tokens[:1500], tokens[1500:], train_cfg, out)


def test_resume_is_bit_identical(tmp_path):
    tokens = np.random.default_rng(0).integers(0, 50, 2000).astype(np.uint16)
    full = make_trainer(tmp_path / "full", 12, tokens)
    full.fit()

    first = make_trainer(tmp_path / "split", 12, tokens)
    first.fit(stop_at=6)  # as if killed after the checkpoint at step 6
    second = make_trainer(tmp_path / "split", 12, tokens)
    second.resume(tmp_path / "split" / "last")
    assert second.step == 6
    second.fit()

    for (name, a), b in zip(full.task.named_parameters(), second.task.parameters()):
        assert torch.equal(a, b), name
    opt_full = load_file(str(tmp_path / "full" / "last" / "optimizer.safetensors"))
    opt_split = load_file(str(tmp_path / "split" / "last" / "optimizer.safetensors"))
    assert opt_full.keys() == opt_split.keys()
    for key in opt_full:
        assert torch.equal(opt_full[key], opt_split[key]), key
    losses = lambda t: [r["loss"] for r in t.history if "loss" in r]  # noqa: E731
    assert losses(full) == losses(second)
