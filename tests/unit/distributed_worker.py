"""Run by tests/unit/test_distributed.py, alone or under torchrun: trains a tiny GPT-2 for a
few steps on fixed tokens and writes rank 0's loss curve as JSON."""

import json
import sys

import numpy as np
import torch

from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.tasks.causal_lm import CausalLMTask
from lmlineage.train.trainer import TrainConfig, Trainer


def main(strategy: str, out: str, steps: int) -> None:
    torch.set_num_threads(1)
    tokens = np.random.default_rng(0).integers(0, 40, 4000).astype(np.uint16)
    torch.manual_seed(0)
    model = build_model(get_family("gpt2").config("tiny", vocab_size=40, n_layer=2, d_model=32,
                                                  attention=dict(n_head=4), max_positions=16))
    cfg = TrainConfig(steps=steps, batch_size=8, context=16, warmup=2, log_interval=1, eval_batches=2,
                      progress=False, parallel=strategy, seed=3)
    trainer = Trainer(CausalLMTask(model), tokens[:3500], tokens[3500:], cfg, out)
    result = trainer.fit()
    if trainer.rank == 0:
        losses = [r["loss"] for r in trainer.history if "loss" in r]
        with open(f"{out}/losses.json", "w") as f:
            json.dump({"losses": losses, "val": result["loss"]}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
