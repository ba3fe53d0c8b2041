"""DDP and FSDP2 on CPU (gloo, 2 processes) give the single-process loss curve for the same
global batch, and the consolidated checkpoint loads in a single process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("distributed_worker.py")
STEPS = 4


def run(args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(env_extra or {})
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    run([sys.executable, str(WORKER), "ddp", str(out), str(STEPS)])
    return json.loads((out / "losses.json").read_text())


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one(strategy, single, tmp_path):
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port",
         str(29500 + (os.getpid() % 1000) + (strategy == "fsdp")), str(WORKER), strategy, str(tmp_path), str(STEPS)],
        {"LMLINEAGE_BACKEND": "gloo", "OMP_NUM_THREADS": "1"})
    multi = json.loads((tmp_path / "losses.json").read_text())
    assert len(multi["losses"]) == len(single["losses"]) == STEPS
    for a, b in zip(multi["losses"], single["losses"]):
        assert abs(a - b) < 1e-5, (multi["losses"], single["losses"])
    assert abs(multi["val"] - single["val"]) < 1e-5

    from lmlineage.checkpoint.model import load_model
    from lmlineage.models import build_model

    model = load_model(tmp_path / "last", build_model)  # the consolidated export, in this single process
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_torchrun_cli_writes_one_consolidated_checkpoint(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question.\n" * 60)
    out = tmp_path / "run"
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port",
         str(31500 + os.getpid() % 1000), "-m", "lmlineage", "train", "gpt2", "--data", str(corpus), "--context", "16",
         "--steps", "3", "--batch-size", "4", "--out", str(out), "--no-progress", "--parallel", "fsdp"],
        {"LMLINEAGE_BACKEND": "gloo", "OMP_NUM_THREADS": "1"})
    import lmlineage
    from lmlineage.api import load

    model = load(out)
    assert lmlineage.generate(model, "to be", max_new_tokens=5, seed=0)
