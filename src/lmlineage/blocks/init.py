"""Weight initialisation, one for every Transformer stack (decoder-only, encoder, encoder-decoder),
chosen by ``ModelConfig.init.kind``:

- ``normal``: every Linear and Embedding weight N(0, ``init_std``), biases zero (GPT-2; BERT's
  released modeling.py; the ``initializer_range`` of ``transformers`` configs).
- ``fan_in``: Mesh TensorFlow's variance scaling, which T5 trains with (``transformers``' T5 init
  states the same numbers): each Linear N(0, 1 / fan_in), token embeddings N(0, 1), relative
  position buckets N(0, 1 / d_model). With T5's tied head scaled by d_model ** -0.5 the logits
  start at unit scale, where a 0.02 embedding gives 0.02.

Applied with ``model.apply(partial(init_weights, cfg=cfg))``: ``nn.Module.apply`` visits children
before parents, so an attention module rescales the query rows its projections were just given.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.config import ModelConfig
from ..layers.attention import Attention
from ..layers.cross_attention import CrossAttention
from ..layers.relative_position import RelativePositionBias


def init_weights(module: nn.Module, cfg: ModelConfig) -> None:
    if cfg.init.kind == "normal":
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=cfg.init.std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        return
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=module.in_features ** -0.5)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, RelativePositionBias):
        nn.init.normal_(module.embed.weight, mean=0.0, std=cfg.d_model ** -0.5)
    elif isinstance(module, nn.Embedding) and module.embedding_dim == cfg.d_model:  # token embeddings
        nn.init.normal_(module.weight, mean=0.0, std=1.0)
    elif isinstance(module, Attention):
        # Scores left unscaled (attn_scale 1.0, T5) take the 1/sqrt(head_dim) from the query's init.
        folded = module.head_dim ** -0.5 / module.scale
        query = module.q.weight if isinstance(module, CrossAttention) else \
            module.qkv.weight[: module.n_head * module.head_dim]
        with torch.no_grad():
            query.mul_(folded)
