"""A model in and out of one of our checkpoint directories: weights as ``model.safetensors`` (tied
copies stored once), the config as ``config.json``, the tokenizer's files beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file

from ..core.config import FamilyConfig
from ..core.registry import load_config
from ..core.errors import UserError
from .directory import verify
from .files import read_weights, refuse_pickles


def save_model_files(directory: Path, model, tokenizer=None, state_dict=None) -> None:
    """Model weights (tied copies stored once) + config + tokenizer into ``directory``.
    ``state_dict`` overrides the model's own (a consolidated copy of sharded weights)."""
    state, seen, tied = {}, set(), _tied_names(model)
    for name, tensor in (state_dict if state_dict is not None else model.state_dict()).items():
        if tensor.data_ptr() in seen or name in tied:
            continue  # a tied parameter; re-tied on load
        seen.add(tensor.data_ptr())
        state[name] = tensor.detach().contiguous().cpu()
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    model.config.save(directory / "config.json")
    if tokenizer is not None:
        tokenizer.save(directory)


def load_model(directory: Path, build: Callable[[FamilyConfig], torch.nn.Module], device="cpu"):
    """Load one of our checkpoint directories (verified) as a model. ``build`` makes the model its
    config describes (``lmlineage.models.build_model``): the families sit above checkpoint I/O."""
    directory = Path(directory)
    refuse_pickles(directory)
    verify(directory)
    cfg = load_config(directory / "config.json")
    model = build(cfg)
    state = read_weights(directory)
    target = model.state_dict()
    unknown = sorted(set(state) - set(target))
    missing = sorted(k for k in set(target) - set(state) if not _is_tied(model, k))
    if unknown or missing:
        raise UserError(f"{directory}: weights do not fit family {cfg.family!r} "
                        f"(unexpected: {unknown[:5]}, missing: {missing[:5]})")
    for k, t in state.items():
        if t.shape != target[k].shape:
            raise UserError(f"{directory}: {k} has shape {tuple(t.shape)}, config says {tuple(target[k].shape)}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise UserError(f"{directory}: {k} holds nan or inf", "the run diverged here; use an earlier checkpoint")
    model.load_state_dict(state, strict=False)
    return model.to(device)


def _tied_names(model) -> set[str]:
    every = dict(model.named_parameters(remove_duplicate=False))
    return set(every) - set(dict(model.named_parameters()))


def _is_tied(model, key: str) -> bool:
    params = dict(model.named_parameters(remove_duplicate=False))
    unique = dict(model.named_parameters())
    return key in params and key not in unique


def check_same_model(run: Path, cfg, fix: str) -> None:
    """``--resume`` must rebuild the model the run in ``run`` started with: name every field that differs."""
    saved = load_config(Path(run) / "last" / "config.json").to_dict()
    changed = [f"{k}={saved.get(k)!r} (now {v!r})" for k, v in cfg.to_dict().items() if saved.get(k) != v]
    if changed:
        raise UserError(f"--resume: the run in {run} has a different model: {', '.join(changed)}", fix)
