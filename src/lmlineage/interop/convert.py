"""The one explicit door for pickled weights: ``lmlineage convert``.

``torch.load(weights_only=True)`` refuses anything but tensors and plain containers, so a
pickle that would run code fails instead of running; the tensors are written as safetensors
beside copies of the directory's other files, so the copy loads wherever the source would have
without its pickles. No other loader in lmlineage reads pickles.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..checkpoint.directory import MANIFEST, atomic_directory, verify
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


def _load_pickle(file: Path) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        raise UserError(f"{file} cannot be loaded safely ({str(e).splitlines()[0]})",
                        "it holds more than tensors; only weights_only pickles are converted") from None
    found = _tensors(loaded)
    if not found:
        raise UserError(f"{file} holds no tensors")
    seen, unique = set(), {}
    for name, t in found.items():  # safetensors stores each storage once: clone shared views
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        unique[name] = t.clone().contiguous() if key in seen else t.contiguous()
        seen.add(key)
    return unique


def convert(source, out) -> Path:
    """Convert a pickled checkpoint (a file, or a directory holding one or more) to safetensors in
    the directory ``out``.

    A directory is copied with its pickles replaced: where it has no safetensors weights their
    tensors become ``model.safetensors``; where it has (one of our checkpoints, or a reference
    directory shipping both formats) each pickle becomes ``NAME.safetensors`` beside them, which
    no loader reads in place of the model's own weights. A directory with a manifest (ours) is
    verified first and its copy gets a fresh one, so it loads as the source did."""
    source, out = Path(source), Path(out)
    if not source.exists():
        raise UserError(f"{source} does not exist")
    files = [source] if source.is_file() else sorted(p for p in source.iterdir() if p.suffix in PICKLED)
    if not files:
        raise UserError(f"{source} holds no pickled weights ({', '.join(PICKLED)})", "nothing to convert")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} already exists and is not empty", "choose another output directory")
    kept = [] if source.is_file() else sorted(p for p in source.iterdir() if p.is_file() and p.suffix not in PICKLED)
    has_weights = any(p.suffix == ".safetensors" or p.name.endswith(".safetensors.index.json") for p in kept)
    ours = any(p.name == MANIFEST for p in kept)
    if ours:
        verify(source)  # a damaged checkpoint is refused, not copied under a fresh manifest
    if has_weights:
        targets = {file: file.with_suffix(".safetensors").name for file in files}
        taken = [name for name in targets.values() if (source / name).exists()]
        if taken:
            raise UserError(f"{source} holds both {taken[0]} and a pickle of that name",
                            "move one of them out of the directory")
    else:
        targets = {file: "model.safetensors" for file in files}
    written: dict[str, dict[str, torch.Tensor]] = {}
    for file, name in targets.items():
        written.setdefault(name, {}).update(_load_pickle(file))
    with atomic_directory(out, manifest=ours) as tmp:
        for name, tensors in written.items():
            save_file(tensors, str(tmp / name), metadata={"format": "pt"})
        for extra in kept:
            if extra.name != MANIFEST:
                shutil.copy2(extra, tmp / extra.name)
    return out
