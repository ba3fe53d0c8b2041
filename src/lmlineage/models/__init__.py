"""Models: a backbone (the stacks of ``blocks/``, which end at hidden states) plus the named heads
a family or task picks (``heads/registry.py``). ``build_model``: the family registry decides which
class a family uses (default: the decoder-only LM)."""

from __future__ import annotations

from ..core.config import ModelConfig
from ..core.registry import get_family


def build_model(cfg: ModelConfig):
    family = get_family(cfg.family)
    if family.build is not None:
        return family.build(cfg)
    from .decoder import DecoderLM

    return DecoderLM(cfg)
