"""Models: a backbone (the stacks of ``blocks/``, which end at hidden states) plus the named heads
a family or task picks (``heads/registry.py``). ``build_model``: the family registry decides which
class a family uses (default: the decoder-only LM)."""

from __future__ import annotations

from ..core.config import ModelConfig
from ..core.errors import UserError
from ..core.registry import get_family


def build_model(cfg: ModelConfig):
    family = get_family(cfg.family)
    if family.build is not None:
        return family.build(cfg)
    if not isinstance(cfg, ModelConfig):  # n-gram counts, word2vec vectors: fitted by their task, not built
        raise UserError(f"family {cfg.family!r} has no model to build from a config",
                        f"fit one with `lmlineage train {cfg.family}`, then load its run directory")
    from .decoder import DecoderLM

    return DecoderLM(cfg)
