"""Build models from configs; the registry decides which class a family uses."""

from __future__ import annotations

from .core.config import ModelConfig
from .core.registry import get_family


def build_model(cfg: ModelConfig):
    family = get_family(cfg.family)
    if family.build is not None:
        return family.build(cfg)
    from .blocks.decoder import DecoderLM

    return DecoderLM(cfg)
