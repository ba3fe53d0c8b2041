"""The trainer's fast paths give the plain path's numbers: fused AdamW vs torch's reference
(for-loop) AdamW, and a torch.compile'd training step vs eager. The same checks on CUDA (with
bf16 autocast too) are in benchmarks/gpu_suite.py's ``check`` section."""

from pathlib import Path

import numpy as np
import pytest
import torch

from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.tasks.causal_lm import CausalLMTask
from lmlineage.train.trainer import TrainConfig, Trainer, parameter_groups

SHAPE = dict(vocab_size=53, n_layer=2, d_model=32, attention=dict(n_head=4), max_positions=32)


def tiny_gpt2():
    torch.manual_seed(0)
    return build_model(get_family("gpt2").config("tiny", **SHAPE))


def adamw_steps(fused: bool, steps: int):
    model = tiny_gpt2()
    ids = torch.randint(0, 53, (4, 17), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(parameter_groups(model, 0.1), lr=3e-3, betas=(0.9, 0.99), fused=fused,
                            foreach=None if fused else False)
    for _ in range(steps):
        logits = model(ids[:, :-1]).logits
        torch.nn.functional.cross_entropy(logits.reshape(-1, 53), ids[:, 1:].reshape(-1)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return dict(model.named_parameters())


@pytest.mark.parametrize("steps,atol", [
    (1, 1e-7),  # one update: float rounding only
    # Later updates divide by sqrt(v): for weights whose gradient is near zero, Adam's step is
    # about lr * sign(g), so rounding-level gradient differences can move them by ~1e-6 per step.
    (5, 2e-5),
])
def test_fused_adamw_matches_the_reference_implementation(steps, atol):
    fused, plain = adamw_steps(True, steps), adamw_steps(False, steps)
    for name, p in fused.items():
        torch.testing.assert_close(p, plain[name], atol=atol, rtol=0, msg=name)


def losses(compiled: bool, tmp: Path) -> list[float]:
    tokens = np.random.default_rng(0).integers(0, 53, 5000).astype(np.int64)
    cfg = TrainConfig(steps=100, batch_size=4, context=16, compile=compiled, progress=False, log_interval=1)
    trainer = Trainer(CausalLMTask(tiny_gpt2()), tokens, tokens[:500], cfg, tmp)
    trainer.plot = lambda: None
    trainer.fit(stop_at=5)
    return [r["loss"] for r in trainer.history if "loss" in r]


@pytest.mark.slow  # compiling the training step takes about a minute on 2 CPU cores
def test_compiled_training_step_matches_eager(tmp_path):
    eager = losses(False, tmp_path / "eager")
    compiled = losses(True, tmp_path / "compiled")
    assert len(eager) == len(compiled) == 5
    np.testing.assert_allclose(compiled, eager, atol=1e-5, rtol=1e-5)
