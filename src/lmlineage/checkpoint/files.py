"""Plain reading of the files a checkpoint directory holds, ours or a reference one: JSON objects
and safetensors weights (one file, or shards listed in an index). Pickles are refused, never read:
loading one can run code (``lmlineage convert`` is the one explicit door for them)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..core.errors import UserError

PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def read_json(path: Path, holds: type = dict):
    """A JSON file's value, which must be a ``holds`` (an object, or a list); a bad file is a UserError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, holds):
        raise UserError(f"{path} must hold a JSON {'object' if holds is dict else 'list'}")
    return data


def refuse_pickles(directory: Path) -> None:
    """Weights stored as pickles can run code when loaded; we never unpickle implicitly."""
    pickled = sorted(p.name for p in Path(directory).iterdir() if p.suffix in PICKLED)
    if pickled:
        raise UserError(
            f"{directory / pickled[0]} is a pickle file, which can run code when loaded; refusing it",
            f"convert its tensors explicitly with `lmlineage convert {directory} OUT`, or use safetensors",
        )


def _inside(directory: Path, name: str) -> Path:
    path = (directory / name).resolve()
    if directory.resolve() not in path.parents:
        raise UserError(f"{directory}: file name {name!r} points outside the checkpoint directory")
    return path


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})", "the file may be truncated") from None


def read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint directory: one file or shards listed in an index."""
    directory = Path(directory)
    single = directory / "model.safetensors"
    index = directory / "model.safetensors.index.json"
    if single.exists():
        return read_safetensors(single)
    if index.exists():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict):
            raise UserError(f"{index} has no weight_map")
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(_inside(directory, shard)))
        return tensors
    refuse_pickles(directory)
    raise UserError(f"{directory} holds no model.safetensors", "is this a checkpoint directory?")
