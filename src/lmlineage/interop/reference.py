"""Reference checkpoint directories (``config.json`` + ``model.safetensors[.index.json]``
+ ``tokenizer.json``): the format the ``transformers`` package reads and writes.

``from_hf(dir)`` and ``to_hf(model, dir)`` are driven by each family's ``ReferenceSpec``:
config fields and weight rules, both declarative, both used in both directions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from safetensors.torch import save_file

from ..checkpoint.directory import atomic_directory
from ..checkpoint.files import read_json, read_weights, refuse_pickles
from ..core.config import merge, put
from ..core.errors import UserError
from .gguf import GGUFSpec
from .rules import export_state, load_state


@dataclass(frozen=True)
class Field:
    """Our config field <-> their config key, with optional value translation (theirs -> ours).
    Dotted names reach into nested parts on either side (ours: ``attention.n_head``)."""

    ours: str
    theirs: str
    values: dict | None = None
    default: object = None  # used when their config lacks the key

    def read(self, config: dict):
        value = config
        for part in self.theirs.split("."):  # dotted keys reach into nested dicts (rope_parameters.rope_theta)
            value = value.get(part) if isinstance(value, dict) else None
        value = self.default if value is None else value
        if self.values is not None and value is not None:
            if value not in self.values:
                raise UserError(f"config.json {self.theirs}={value!r} is not supported",
                                f"supported: {', '.join(map(str, self.values))}")
            value = self.values[value]
        return value

    def write(self, value):
        if self.values is not None:
            value = {v: k for k, v in self.values.items()}[value]
        return value


@dataclass(frozen=True)
class LabelNames(Field):
    """A task model's label names (ours: a list) <-> ``id2label`` ({"0": name, ...}), which sizes the
    reference's classifier. Without names, the reference's default of two."""

    def read(self, config: dict):
        names = config.get(self.theirs)
        if names is None:
            return None
        if not isinstance(names, dict) or sorted(map(str, names)) != sorted(str(i) for i in range(len(names))):
            raise UserError(f"config.json {self.theirs} must map 0..n-1 to label names, got {names!r}")
        return [str(names.get(str(i), names.get(i))) for i in range(len(names))]

    def write(self, value):
        value = value or ["LABEL_0", "LABEL_1"]
        return {str(i): name for i, name in enumerate(value)}


@dataclass(frozen=True)
class LabelIds(LabelNames):
    """``label2id``: written beside ``id2label``, never read (``id2label`` is the one source)."""

    def read(self, config: dict):
        return None

    def write(self, value):
        return {name: int(i) for i, name in super().write(value).items()}


@dataclass(frozen=True)
class ReferenceSpec:
    model_type: str
    architecture: str  # the reference class whose checkpoint this is, e.g. GPT2LMHeadModel
    fields: tuple[Field, ...]
    rules: tuple
    fixed: dict = field(default_factory=dict)  # written on export; must hold on import
    export_extra: dict = field(default_factory=dict)  # written on export, not checked
    # Our config values this architecture implies (e.g. the heads it carries): set on import,
    # and on export the spec whose values the model's config has is the one written.
    implies: dict = field(default_factory=dict)
    gguf: GGUFSpec | None = None  # where llama.cpp's single-file format holds this architecture too
    # Our config values the architecture has no key for, as (path, value of the config, why): a
    # model whose config differs cannot be written in this format (XLM's FFN is always 4 x emb_dim).
    requires: tuple = ()

    def config_from_hf(self, config: dict) -> dict:
        for key, value in self.fixed.items():
            if key in config and config[key] != value:
                raise UserError(f"config.json {key}={config[key]!r} is not supported (expected {value!r})")
        ours = {}
        for f in self.fields:
            value = f.read(config)
            if value is not None:
                put(ours, f.ours, value)
        return {k: v for k, v in merge(ours, self.implies).items() if v is not None}

    def describes(self, cfg) -> bool:
        """Whether a model with config ``cfg`` exports as this architecture (lists compare as sets)."""
        return all(_same(config_value(cfg, path), value) for path, value in _paths(self.implies))

    def config_to_hf(self, cfg) -> dict:
        for path, expected, why in self.requires:
            value = config_value(cfg, path)
            if value is None and path in RESOLVED:
                value = RESOLVED[path](cfg)
            if value != expected(cfg):
                raise UserError(f"{self.architecture} cannot hold {path}={value}: {why}",
                                f"export a model with {path}={expected(cfg)}, or save it in our format")
        out = {"architectures": [self.architecture], "model_type": self.model_type}
        out.update(self.export_extra)
        out.update(self.fixed)
        for f in self.fields:
            value = config_value(cfg, f.ours)
            if value is None:  # "derive it" is ours alone: write what it resolves to
                value = resolved(cfg, f.ours)
            put(out, f.theirs, f.write(value))
        return out


# Config fields whose None means "derived from the others", and what they resolve to.
RESOLVED = {
    "mlp.d_ff": lambda cfg: cfg.mlp.ff_dim(cfg.d_model),
    "attention.n_kv_head": lambda cfg: cfg.attention.kv_heads,
    "attention.head_dim": lambda cfg: cfg.attention.dim_head(cfg.d_model),
    "attention.qkv_bias": lambda cfg: cfg.bias,
    "decoder.n_layer": lambda cfg: cfg.n_layer,
}


def resolved(cfg, path: str):
    """What a None at ``path`` resolves to (``RESOLVED``), also inside a part with a config of its
    own (``vision.mlp.d_ff``: CLIP's image tower); None where None is the value."""
    for prefix in _prefixes(path):
        rest = path[len(prefix) + 1:] if prefix else path
        if rest in RESOLVED:
            return RESOLVED[rest](config_value(cfg, prefix) if prefix else cfg)
    return None


def _prefixes(path: str):
    """"" then each dotted prefix of ``path``: "", "vision", "vision.mlp" for vision.mlp.d_ff."""
    parts = path.split(".")
    return [""] + [".".join(parts[:n]) for n in range(1, len(parts))]


def config_value(cfg, path: str):
    """The value at a dotted key path of a config (``attention.n_head``)."""
    value = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _paths(nested: dict, prefix: str = ""):
    """(dotted path, value) for each leaf of a nested dict."""
    for key, value in nested.items():
        if isinstance(value, dict):
            yield from _paths(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _same(ours, implied) -> bool:
    if isinstance(ours, (list, tuple)) and isinstance(implied, (list, tuple)):
        return set(ours) == set(implied)  # the order heads are listed in does not matter
    return ours == implied


def from_hf(directory, family=None):
    """Load a reference checkpoint directory into our model of the matching family."""
    from ..core.registry import families
    from ..models import build_model

    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory", "a checkpoint is a directory with config.json")
    refuse_pickles(directory)
    config = read_json(directory / "config.json")
    model_type = config.get("model_type")
    matches = [(f, spec) for f in families() for spec in f.references if spec.model_type == model_type]
    if family is not None:
        matches = [m for m in matches if m[0].name == family] or matches
    if not matches:
        raise UserError(f"{directory}: no family reads model_type={model_type!r}")
    # Specs whose fixed values the config contradicts are out (T5 and T5 v1.1 share model type and
    # architecture, not feed_forward_proj); the declared architecture picks among the rest, else the default.
    matches = [m for m in matches if all(config.get(k, v) == v for k, v in m[1].fixed.items())] or matches
    declared = config.get("architectures") or ()
    fam, spec = next((m for m in matches if m[1].architecture in declared), matches[0])
    cfg = fam.config(None, **spec.config_from_hf(config))
    pooling = sentence_pooling(directory)
    if pooling is not None:
        cfg = cfg.replace(pooling=pooling)
    model = build_model(cfg)
    target = model.state_dict()
    state = load_state(spec.rules, read_weights(directory), target, cfg, str(directory))
    model.load_state_dict(state, strict=False)  # tied parameters are filled by tying
    return model


def sentence_pooling(directory: Path) -> str | None:
    """How a sentence-transformers directory pools its token vectors ("mean" or "cls"), read from
    ``modules.json`` and its Pooling module's ``config.json``; None for a plain checkpoint or a
    pooling mode fine-tuning does not offer (max, weighted mean, ...)."""
    modules = directory / "modules.json"
    if not modules.is_file():
        return None
    listed = read_json(modules, list)
    pooling = next((m for m in listed if isinstance(m, dict) and str(m.get("type", "")).endswith(".Pooling")), None)
    if pooling is None:
        return None
    modes = read_json(directory / str(pooling.get("path", "")) / "config.json")
    on = [k.removeprefix("pooling_mode_") for k, v in modes.items() if k.startswith("pooling_mode_") and v is True]
    return {"cls_token": "cls", "mean_tokens": "mean"}.get(on[0]) if len(on) == 1 else None


def to_hf(model, directory, tokenizer=None) -> Path:
    """Write ``model`` as a reference checkpoint directory that ``transformers`` loads strictly."""
    from ..core.registry import get_family

    cfg = model.config
    specs = get_family(cfg.family).references
    if not specs:
        raise UserError(f"family {cfg.family!r} has no reference format to export to")
    spec = next((s for s in specs if s.describes(cfg)), None)
    if spec is None:
        raise UserError(f"no reference architecture of family {cfg.family!r} has this model's "
                        f"{', '.join(f'{k}={config_value(cfg, k)!r}' for k, _ in _paths(specs[0].implies))}",
                        "supported: " + "; ".join(f"{s.architecture} ({s.implies})" for s in specs))
    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        (tmp / "config.json").write_text(json.dumps(spec.config_to_hf(cfg), indent=2) + "\n")
        save_file(export_state(spec.rules, model.state_dict(), cfg), str(tmp / "model.safetensors"),
                  metadata={"format": "pt"})
        if tokenizer is not None:
            tokenizer.save(tmp)
    return directory
