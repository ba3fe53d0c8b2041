"""What one training step needs in memory, estimated from the shapes before anything is allocated,
so a batch, context or preset that cannot fit is refused with one line instead of swapping.

The estimate (float32, AdamW): weights, gradients and the two moments (4 copies of the
parameters); activations kept for the backward pass, about ACTIVATION_FLOATS floats per token,
layer and model dimension plus the attention scores (n_head x window per token and layer); and the
logits with their softmax and gradient (3 x vocabulary per token). Only what a step surely needs
is counted, so a refused run surely does not fit; one that passes may still be tight.
"""

from __future__ import annotations

import os

import torch

from ..core.config import ModelConfig
from ..core.errors import UserError

BYTES = 4  # float32
# Per token, layer and d_model: the inputs of the projections, MLP and norms kept for the backward
# pass (Korthikanti et al. 2022 count about 17 at 16 bits).
ACTIVATION_FLOATS = 16


MAX_DIMENSION = 2**40  # far past any memory, far short of int64's overflow


def parameter_count(config) -> int:
    """Parameters of the model ``config`` builds, counted on the meta device (nothing allocated,
    no random number drawn)."""
    from ..models import build_model

    with torch.device("meta"):
        model = build_model(config)
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def step_bytes(config, batch_size: int, context: int) -> int:
    tokens = batch_size * context
    activations = 0  # a classic family's: not estimated (what surely fits in its weights and logits)
    if isinstance(config, ModelConfig):
        layers = config.n_layer + (config.decoder.n_layer or 0)
        activations = tokens * layers * (ACTIVATION_FLOATS * config.d_model + 2 * config.attention.n_head * context)
    logits = 3 * tokens * config.vocab_size
    return BYTES * (4 * parameter_count(config) + activations + logits)


def available_bytes(device: str) -> int:
    """Free memory where the step runs: the accelerator's, or the host's available RAM."""
    d = torch.device(device)
    if d.type == "cuda":
        return torch.cuda.mem_get_info(d)[0]
    try:
        import psutil

        return psutil.virtual_memory().available
    except ImportError:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits(config, batch_size: int, context: int, device: str, world: int = 1) -> None:
    """Refuse a step that needs more memory than ``device`` has free (per process under torchrun)."""
    for name, value in (("--batch-size", batch_size), ("--context", context)):
        if value > MAX_DIMENSION:  # no tensor has such a dimension: even the meta-device count would overflow
            raise UserError(f"{name} {value} cannot fit in any memory", f"choose at most {MAX_DIMENSION:,}")
    need = step_bytes(config, max(batch_size // world, 1), context)
    free = available_bytes(device)
    if need > free:
        raise UserError(f"one training step needs about {_gib(need)} of memory (--batch-size {batch_size}, context "
                        f"{context}, {parameter_count(config):,} parameters), but {device} has {_gib(free)} free",
                        "lower --batch-size or --context, or choose a smaller --preset")


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"
