"""ERNIE's knowledgeable encoder (Zhang et al. 2019, section 3.2, figure 2): the T-encoder, the one
shared encoder stack (``cfg.n_layer`` BERT layers over the tokens), then the K-encoder,
``cfg.k_layers`` aggregators (blocks/aggregator.py) that fuse the token stream with the entities
aligned to it. Entity vectors come from a frozen table (TransE's, fitted on the knowledge graph
by the task; row 0 is "no entity", zeros). Heads read the last token stream, as BERT's do; the
dEA head (heads/entity.py) maps aligned tokens to the entity space.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ..blocks.aggregator import Aggregator, aligned_mask
from ..blocks.init import init_weights
from ..core import masks
from ..heads.entity import EntityPredictionHead
from .encoder import EncoderModel, EncoderOutput


class KnowledgeEncoderModel(EncoderModel):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.aggregators = nn.ModuleList(Aggregator(cfg, cfg.n_layer + i, cfg.entity_dim, cfg.entity_heads)
                                         for i in range(cfg.k_layers))
        self.dea = EntityPredictionHead(cfg.d_model, cfg.entity_dim, cfg.mlp.activation, cfg.norm.eps)
        for part in (self.aggregators, self.dea):
            part.apply(partial(init_weights, cfg=cfg))
        # Frozen (section 4.1: TransE's embeddings are fixed); a buffer would not be a checkpointed weight.
        self.entity_embed = nn.Embedding(cfg.n_entities + 1, cfg.entity_dim, padding_idx=0)
        self.entity_embed.weight.requires_grad_(False)
        with torch.no_grad():
            self.entity_embed.weight.zero_()

    @torch.no_grad()
    def set_entity_vectors(self, vectors: torch.Tensor) -> None:
        """Entity ids 1..n get ``vectors`` (n, d_e); 0 stays zero."""
        self.entity_embed.weight[1:] = vectors.to(self.entity_embed.weight)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
                output_hidden_states=False, mlm_positions=None, output_attentions=False,
                entity_ids=None) -> EncoderOutput:
        """``entity_ids`` (B, T): the entity aligned to each token (its mention's first), 0 where none;
        None: no entity anywhere (the model is then a BERT of n_layer + k_layers layers).
        ``outputs["entity_vectors"]``: the dEA head's (B, T, d_e) on the last token stream."""
        hidden, states, attentions = self.encode(input_ids, attention_mask, token_type_ids, position_ids,
                                                 output_hidden_states, output_attentions)
        if entity_ids is None:
            entity_ids = torch.zeros_like(input_ids)
        aligned = aligned_mask(entity_ids)
        entities = self.entity_embed(entity_ids)
        token_mask = None if attention_mask is None or bool(attention_mask.all()) else \
            masks.never_empty(masks.padding(attention_mask))
        for layer in self.aggregators:
            hidden, entities = layer(hidden, entities, aligned, token_mask)
            if states is not None:
                states.append(hidden)
        return self.output(hidden, states, attentions, attention_mask, mlm_positions,
                           entity_vectors=self.dea(hidden))
