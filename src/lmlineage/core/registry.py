"""The registry: a family is declared once and is then usable by name everywhere.

Family modules under ``lmlineage.families`` call :func:`register` at import time; the
registry imports that package on first lookup, so adding a family touches only its file.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

from .config import ModelConfig, config_from_dict, merge, read_config
from .errors import UserError


@dataclass(frozen=True)
class Family:
    name: str
    year: int
    parent: str | None
    paper: str
    changes: str  # what this family changed from its parent, in a line
    presets: dict[str, dict]  # preset name -> config fields (nested dicts for the specs: attention={...})
    defaults: dict = field(default_factory=dict)  # fields every preset shares, merged key by key under them
    objective: str = "clm"
    # Objectives `train --objective NAME` may pick instead of ``objective``, each with the config
    # overrides it implies (XLM's CLM: a causal stack); a checkpoint's own is read back by
    # ``objective_of``.
    objectives: dict[str, dict] = field(default_factory=dict)
    default_tokenizer: str = "char"  # what `train` builds when --tokenizer is not given
    architecture: str = "decoder"  # decoder | encoder | encoder-decoder | classic
    # interop.ReferenceSpec, or a tuple of them (one per reference architecture, the first the
    # default): how reference checkpoints map onto ours
    reference: Any = None
    build: Callable[[ModelConfig], Any] | None = None  # None: the shared decoder LM
    # Classic families with a checkpoint format of their own (n-gram counts, word2vec, the word-level
    # LMs): ``load(dir)`` reads one back as an object with ``evaluate_text(text)`` and ``generate``.
    load: Callable | None = None
    # Options only this family's task takes, as ``argparse`` keyword arguments by option name
    # (``{"arch": dict(choices=[...], help=...)}``): `lmlineage train` offers them as flags.
    options: dict = field(default_factory=dict)
    # The config this family's models are built from: ModelConfig, a subclass with the family's own
    # fields, or a classic family's small config; None: the family has a checkpoint format of its own.
    config_class: type | None = ModelConfig

    @property
    def references(self) -> tuple:
        """Every reference architecture this family reads and writes; the first is the default."""
        if self.reference is None:
            return ()
        return self.reference if isinstance(self.reference, tuple) else (self.reference,)

    def pick_objective(self, name: str | None) -> tuple[str, dict]:
        """(the objective, the config overrides it implies) for `train --objective NAME` (None: the family's own)."""
        if name is None or (name == self.objective and name not in self.objectives):
            return self.objective, self.objectives.get(self.objective, {})
        if name not in self.objectives:
            choices = self.objectives or {self.objective: {}}
            raise UserError(f"family {self.name!r} trains with no objective {name!r}",
                            f"choose one of: {', '.join(choices)}" + ("" if self.objectives else
                                                                       " (leave out --objective)"))
        return name, self.objectives[name]

    def objective_of(self, cfg) -> str:
        """The objective a model of config ``cfg`` was trained with: the family's own unless the
        config holds the overrides only another objective implies."""
        def holds(overrides: dict) -> bool:
            return all(getattr(cfg, key, None) == value for key, value in overrides.items())

        if holds(self.objectives.get(self.objective, {})):
            return self.objective
        return next((name for name, overrides in self.objectives.items() if holds(overrides)), self.objective)

    def preset(self, name: str) -> dict:
        """The preset's own settings; a UserError naming the choices for an unknown one."""
        if name not in self.presets:
            raise UserError(f"family {self.name!r} has no preset {name!r}", f"choose one of: {', '.join(self.presets)}")
        return self.presets[name]

    def config(self, preset: str | None = "tiny", **overrides):
        """The preset's config with ``overrides`` (nested dicts change only the keys they name);
        ``preset=None`` starts from the family defaults."""
        chosen = self.preset(preset) if preset is not None else {}
        if self.config_class is None:
            raise UserError(f"family {self.name!r} has no model config", "it is fitted by its own task")
        data = merge(merge(merge(self.defaults, chosen), overrides), {"family": self.name})
        return self.config_class.from_dict(data)


_FAMILIES: dict[str, Family] = {}
_loaded = False


def register(family: Family) -> Family:
    if family.name in _FAMILIES:
        raise RuntimeError(f"family {family.name!r} registered twice")
    _FAMILIES[family.name] = family
    return family


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module("lmlineage.families")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"lmlineage.families.{module.name}")


def families() -> list[Family]:
    _load_all()
    return sorted(_FAMILIES.values(), key=lambda f: (f.year, f.name))


def load_config(path):
    """A checkpoint's config.json as its family's config (the flat layout of older checkpoints too)."""
    data = read_config(path)
    name = data.get("family", ModelConfig.family)
    try:
        config_class = get_family(name).config_class if isinstance(name, str) else ModelConfig
        return config_from_dict(data, config_class or ModelConfig)
    except UserError as e:  # name the file the bad config came from
        raise UserError(f"{path}: {e.problem}", e.fix) from None


def get_family(name: str) -> Family:
    _load_all()
    if name not in _FAMILIES:
        raise UserError(f"unknown family {name!r}", f"choose one of: {', '.join(f.name for f in families())}")
    return _FAMILIES[name]
