"""LoRA adapters in peft's format (``adapter_config.json`` + ``adapter_model.safetensors``, keys
``base_model.model.<module>.lora_A.weight`` / ``lora_B.weight``), read onto and written from our
models (the hooks are ``layers/lora.py``).

Module names are the reference's where the family declares reference rules (``q_proj``,
``v_proj`` of a LLaMA, whether it was loaded from our checkpoint, a reference directory or a GGUF
file), so an adapter trained by peft on the reference model loads here and ours loads there;
otherwise they are our own module names. Where our one tensor holds several of theirs (the fused
q/k/v projection), each of theirs is a part writing its own rows, found by running the family's
load rule on a probe (``_rows_of``): one place knows the layouts, the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..checkpoint.files import read_json, read_safetensors
from ..core.errors import UserError
from ..core.registry import get_family
from ..layers.lora import LoRALinear, LoRAPart
from .rules import Rename, expand

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."
# peft's defaults for a LLaMA (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING): the attention's
# query and value projections; for a model without reference names, our fused attention input.
DEFAULT_TARGETS = ("q_proj", "v_proj")
OWN_DEFAULT_TARGETS = ("attn.qkv",)


@dataclass(frozen=True)
class Target:
    ours: str  # our nn.Linear's module name
    theirs: str  # the adapter's module name (reference or ours)
    rows: torch.Tensor | None  # our output rows it writes, in their order (None: all)
    out_features: int
    in_features: int


def _spec(model):
    fam = get_family(model.config.family)
    specs = [s for s in fam.references if s.describes(model.config)]
    return specs[0] if specs else None


def _rows_of(rule, key: str, their_shape, shapes: dict, cfg):
    """(our key, our rows in their row order) that their ``key`` loads into through ``rule``, or
    None where it is not a plain row selection (a transposed Conv1D, say)."""
    src = {k: torch.zeros(shapes[k]) for k in rule.their_keys()}
    out_rows, in_cols = their_shape
    src[key] = (torch.arange(out_rows, dtype=torch.float64) + 1)[:, None].expand(out_rows, in_cols).clone()
    out: dict = {}
    rule.load(src, out, set(), cfg)
    for ours, tensor in out.items():
        if tensor.dim() != 2 or tensor.shape[1] != in_cols:
            continue
        marked = tensor[:, 0]
        if not bool((tensor == marked[:, None]).all()):
            return None
        rows = torch.nonzero(marked).flatten()
        if len(rows) != out_rows:
            continue
        order = marked[rows].long() - 1  # their row each of our rows holds
        by_their_row = torch.empty_like(rows)
        by_their_row[order] = rows
        return ours, by_their_row
    return None


def _matches(name: str, targets) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def find_targets(model, targets=None) -> list[Target]:
    """The Linear layers (or parts of them) a LoRA on ``targets`` (module names or suffixes, peft's
    ``target_modules``) adapts; default: the reference's q_proj and v_proj, else our attn.qkv."""
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    found: list[Target] = []
    spec = _spec(model)
    if spec is not None:
        cfg = model.config
        wanted = tuple(targets or DEFAULT_TARGETS)
        ours_state = {k: v for k, v in model.state_dict().items()}
        from .rules import export_state

        shapes = {k: tuple(v.shape) for k, v in export_state(spec.rules, ours_state, cfg).items()}
        for rule in expand(spec.rules, cfg.n_layer, cfg.moe.n_experts):
            for key in rule.their_keys():
                module = key.removesuffix(".weight")
                if not key.endswith(".weight") or not _matches(module, wanted) or key not in shapes:
                    continue
                if isinstance(rule, Rename) and rule.transpose:
                    raise UserError(f"LoRA on {module} is not supported: this family stores it transposed (Conv1D)",
                                    "adapt another module with --lora-targets")
                hit = _rows_of(rule, key, shapes[key], shapes, cfg)
                if hit is None or hit[0].removesuffix(".weight") not in linears:
                    raise UserError(f"LoRA on {module} is not supported: it is not a row block of one of our Linear layers",
                                    "adapt another module with --lora-targets")
                ours, rows = hit
                linear = linears[ours.removesuffix(".weight")]
                whole = len(rows) == linear.out_features and bool((rows == torch.arange(len(rows))).all())
                found.append(Target(ours.removesuffix(".weight"), module, None if whole else rows, len(rows),
                                    linear.in_features))
        if found or targets is None:
            return found
    wanted = tuple(targets or OWN_DEFAULT_TARGETS)
    found = [Target(name, name, None, m.out_features, m.in_features) for name, m in linears.items()
             if _matches(name, wanted)]
    return found


class Adapter(nn.Module):
    """The LoRA parts of one model, grouped by the Linear they adapt; ``attach`` hooks them on."""

    def __init__(self, targets: list[Target], r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if not targets:
            raise UserError("no module of this model matches the LoRA targets",
                            "name Linear modules (e.g. q_proj,v_proj or attn.qkv) with --lora-targets")
        self.r, self.alpha, self.dropout = r, alpha, dropout
        self.targets = targets
        grouped: dict[str, list[LoRAPart]] = {}
        for t in targets:
            grouped.setdefault(t.ours, []).append(LoRAPart(t.in_features, t.out_features, r, alpha, t.rows, dropout))
        self.names = list(grouped)  # ModuleDict keys may not hold dots
        self.layers = nn.ModuleList(LoRALinear(parts) for parts in grouped.values())
        self._model = None

    def parts(self):
        """(target, part) in the order of ``targets``."""
        index = {name: iter(layer.parts) for name, layer in zip(self.names, self.layers)}
        return [(t, next(index[t.ours])) for t in self.targets]

    def attach(self, model) -> "Adapter":
        modules = dict(model.named_modules())
        for name, layer in zip(self.names, self.layers):
            layer.attach(modules[name])
        self._model = [model]  # a list: not registered as a submodule
        return self

    def merge(self, model) -> None:
        """Fold every update into the model's weights (the hooks come off)."""
        modules = dict(model.named_modules())
        for name, layer in zip(self.names, self.layers):
            layer.merge_into(modules[name])

    def detach(self) -> None:
        for layer in self.layers:
            layer.detach()

    def state(self) -> dict[str, torch.Tensor]:
        out = {}
        for t, part in self.parts():
            out[f"{PREFIX}{t.theirs}.lora_A.weight"] = part.lora_A.detach().contiguous().cpu()
            out[f"{PREFIX}{t.theirs}.lora_B.weight"] = part.lora_B.detach().contiguous().cpu()
        return out

    def config(self) -> dict:
        return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": self.r, "lora_alpha": self.alpha,
                "lora_dropout": self.dropout, "target_modules": sorted({t.theirs.rsplit(".", 1)[-1] for t in self.targets}),
                "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
                "modules_to_save": None, "inference_mode": True, "base_model_name_or_path": None}

    def save(self, directory) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        save_file(self.state(), str(directory / WEIGHTS), metadata={"format": "pt"})
        (directory / CONFIG).write_text(json.dumps(self.config(), indent=2) + "\n")


def is_adapter(directory) -> bool:
    return Path(directory).is_dir() and (Path(directory) / CONFIG).is_file()


def read_adapter(model, directory) -> Adapter:
    """The peft LoRA adapter in ``directory``, built for ``model`` (not yet attached); a one-line
    UserError for another method, an option we do not implement, or weights of another shape."""
    directory = Path(directory)
    config = read_json(directory / CONFIG)
    if config.get("peft_type") != "LORA":
        raise UserError(f"{directory} holds a {config.get('peft_type')} adapter", "give a LoRA adapter")
    for key, plain in (("use_dora", False), ("use_rslora", False), ("fan_in_fan_out", False), ("bias", "none")):
        if config.get(key, plain) not in (plain, None):
            raise UserError(f"{directory}: LoRA with {key}={config[key]!r} is not supported", f"use {key}={plain!r}")
    if config.get("rank_pattern") or config.get("alpha_pattern") or config.get("modules_to_save"):
        raise UserError(f"{directory}: per-module ranks or saved modules are not supported",
                        "give an adapter with one rank and alpha")
    state = read_safetensors(directory / WEIGHTS)
    modules = sorted({k.removeprefix(PREFIX).rsplit(".lora_", 1)[0] for k in state})
    by_name = {t.theirs: t for t in find_targets(model, modules)}
    missing = [m for m in modules if m not in by_name]
    if missing:
        raise UserError(f"{directory} adapts {missing[0]}, which this {model.config.family} model does not have",
                        "the adapter was trained for another model")
    r, alpha = int(config["r"]), float(config["lora_alpha"])
    adapter = Adapter([by_name[m] for m in modules], r, alpha, 0.0)
    with torch.no_grad():
        for t, part in adapter.parts():
            for name, param in (("lora_A", part.lora_A), ("lora_B", part.lora_B)):
                key = f"{PREFIX}{t.theirs}.{name}.weight"
                if key not in state:
                    raise UserError(f"{directory}: {key} is missing")
                if tuple(state[key].shape) != tuple(param.shape):
                    raise UserError(f"{directory} is a LoRA adapter for another shape: {key} is "
                                    f"{tuple(state[key].shape)}, this model needs {tuple(param.shape)}",
                                    "apply it to the model it was trained for")
                param.copy_(state[key])
    return adapter
