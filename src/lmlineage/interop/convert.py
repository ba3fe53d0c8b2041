"""The one explicit door for pickled weights: ``lmlineage convert``.

``torch.load(weights_only=True)`` refuses anything but tensors and plain containers, so a
pickle that would run code fails instead of running; the tensors are written as safetensors
beside copies of the directory's JSON files. No other loader in lmlineage reads pickles.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..checkpoint.directory import atomic_directory
from ..checkpoint.files import PICKLED
from ..core.errors import UserError


def _tensors(obj, prefix="") -> dict[str, torch.Tensor]:
    """Flatten nested dicts of tensors (a bare state dict, or one under "state_dict"/"model")."""
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    if isinstance(obj, dict):
        if prefix == "" and set(obj) & {"state_dict", "model"} and not any(
                isinstance(v, torch.Tensor) for v in obj.values()):
            obj = obj.get("state_dict", obj.get("model"))
        out = {}
        for key, value in obj.items():
            out.update(_tensors(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {}


def convert(source, out) -> Path:
    """Convert a pickled checkpoint (a file, or a directory holding one or more) to safetensors."""
    source, out = Path(source), Path(out)
    if not source.exists():
        raise UserError(f"{source} does not exist")
    files = [source] if source.is_file() else sorted(p for p in source.iterdir() if p.suffix in PICKLED)
    if not files:
        raise UserError(f"{source} holds no pickled weights ({', '.join(PICKLED)})", "nothing to convert")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} already exists and is not empty", "choose another output directory")
    tensors: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            loaded = torch.load(file, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
            raise UserError(f"{file} cannot be loaded safely ({str(e).splitlines()[0]})",
                            "it holds more than tensors; only weights_only pickles are converted") from None
        found = _tensors(loaded)
        if not found:
            raise UserError(f"{file} holds no tensors")
        tensors.update(found)
    seen, unique = set(), {}
    for name, t in tensors.items():  # safetensors stores each storage once: clone shared views
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        unique[name] = t.clone().contiguous() if key in seen else t.contiguous()
        seen.add(key)
    with atomic_directory(out, manifest=False) as tmp:
        save_file(unique, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        if source.is_dir():
            for extra in source.iterdir():
                if extra.suffix == ".json" and extra.is_file():
                    shutil.copy2(extra, tmp / extra.name)
    return out
