"""Training state as safetensors (tensors) + JSON (everything else) — never pickle.

Optimizer moments are stored per parameter name; RNG states of Python, NumPy and torch
(CPU and CUDA) are captured so a resumed run continues bit for bit."""

from __future__ import annotations

import base64
import random

import numpy as np
import torch


def optimizer_tensors(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> tuple[dict, dict]:
    """Return ``(tensors, json_state)``; tensors keyed ``{param name}::{state key}``."""
    tensors, groups = {}, []
    for group in optimizer.param_groups:
        groups.append({k: v for k, v in group.items() if k != "params"}
                      | {"params": [names[id(p)] for p in group["params"]]})
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                tensors[f"{names[id(p)]}::{key}"] = value.detach().contiguous().cpu()
    return tensors, {"param_groups": groups}


def load_optimizer_tensors(optimizer, names: dict[int, str], tensors: dict, json_state: dict) -> None:
    by_name = {names[id(p)]: p for g in optimizer.param_groups for p in g["params"]}
    for group, saved in zip(optimizer.param_groups, json_state["param_groups"]):
        for key, value in saved.items():
            if key != "params":
                group[key] = tuple(value) if isinstance(group.get(key), tuple) else value
    for full, value in tensors.items():
        name, key = full.rsplit("::", 1)
        p = by_name[name]
        optimizer.state.setdefault(p, {})[key] = value.to(p.device) if key != "step" else value


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode()


def _unb64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8)


def rng_state() -> dict:
    state = {
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": _numpy_state(),
        "torch": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def _numpy_state() -> dict:
    name, key, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "key": key.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)}


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["name"], np.array(n["key"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(_unb64(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])


def generator_to_json(state: torch.Tensor) -> str:
    return _b64(state)


def generator_from_json(text: str) -> torch.Tensor:
    return _unb64(text)
