"""Scale-out on PyTorch's own engine: ``torchrun --nproc_per_node=N -m lmlineage train ...``.

DistributedDataParallel replicates the model; FSDP2 (``fully_shard``) shards parameters,
gradients and optimizer state per Transformer block. Either way every rank draws the same
global batch and trains on its slice of rows, so N processes with global batch B compute
what one process with batch B computes. Rank 0 logs and writes consolidated checkpoints.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..core.errors import UserError


def world() -> tuple[int, int]:
    """(rank, world size), initialising the process group when launched by torchrun."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("LMLINEAGE_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def local_device(device: str) -> torch.device:
    d = torch.device(device)
    if d.type == "cuda" and d.index is None and "LOCAL_RANK" in os.environ:
        d = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(d)
    return d


def wrap(task: torch.nn.Module, strategy: str, device: torch.device) -> torch.nn.Module:
    """Wrap ``task`` for data parallelism; returns the module to call."""
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(task, device_ids=[device.index] if device.type == "cuda" else None)
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for module in task.modules():
            if type(module).__name__ == "Block":  # one shard group per Transformer block
                fully_shard(module)
        fully_shard(task)
        return task
    raise UserError(f"unknown parallel strategy {strategy!r}", "choose ddp or fsdp")


def full_states(task, optimizer, strategy: str) -> tuple[dict, dict]:
    """Consolidated (model state, optimizer state keyed by parameter name) on every rank's CPU."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(task, options=options), get_optimizer_state_dict(task, optimizer, options=options)


def load_full_states(task, optimizer, model_state: dict, optim_state: dict) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(task, model_state, options=options)
    set_optimizer_state_dict(task, optimizer, optim_state, options=options)


def mean(value: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.AVG)
    return value


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
