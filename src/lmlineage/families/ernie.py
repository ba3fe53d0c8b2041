"""ERNIE (Zhang et al. 2019, "ERNIE: Enhanced Language Representation with Informative Entities"; the
THU model, not Baidu's ERNIE of the same year).

Diff from BERT: the encoder is split in two (section 3.2): the T-encoder, N BERT layers over the
tokens, and the K-encoder, M aggregators (section 3.3) that fuse each token with the knowledge-graph
entity its mention is linked to: both streams attend to themselves, then an information fusion
layer h = gelu(W_t w + W_e e + b) writes new token and entity vectors. The entity vectors are
TransE's (Bordes et al. 2013), trained on the graph and frozen (section 4.1). Pre-trained with
the masked LM plus the denoising entity auto-encoder, dEA (section 3.4): alignments are corrupted
(5% replaced, 15% masked) and every aligned token predicts its entity among its sequence's.
Paper sizes: N = 6, M = 6, d = 768, 12 heads; entities d_e = 100, 4 heads. NSP is left out here
(the released code keeps it); the graph is the KJV's genealogies (data/knowledge_graph.py), or
``--entities FILE``.
"""

from dataclasses import dataclass

from ..core.config import ModelConfig, merge
from ..core.errors import UserError
from ..core.registry import Family, register
from ..models.knowledge_encoder import KnowledgeEncoderModel
from .bert import BERT


@dataclass
class ErnieConfig(ModelConfig):
    k_layers: int = 6  # M aggregators after the n_layer (N) layers of the T-encoder
    entity_dim: int = 100  # d_e: TransE's dimension
    entity_heads: int = 4
    n_entities: int = 0  # entity ids 1..n_entities; 0 is "no entity"
    entity_names: list[str] | None = None  # the linker's names, entity id i + 1 for the i-th
    knowledge_graph: str | None = None  # the --entities file the entities came from; None: the KJV's

    def validate(self, where: str = "") -> None:
        super().validate(where)
        if self.k_layers < 1 or self.entity_dim < 1 or self.entity_heads < 1 or self.n_entities < 0:
            raise UserError("config k_layers, entity_dim and entity_heads must be positive, n_entities >= 0")
        if self.entity_dim % self.entity_heads:
            raise UserError(f"config entity_dim={self.entity_dim} is not a multiple of entity_heads={self.entity_heads}")
        if self.entity_names is not None and len(self.entity_names) != self.n_entities:
            raise UserError(f"config entity_names holds {len(self.entity_names)} names for n_entities={self.n_entities}")


register(Family(
    name="ernie",
    year=2019,
    parent="bert",
    paper="Zhang et al. 2019, ERNIE: Enhanced Language Representation with Informative Entities",
    changes="knowledge-graph entities (frozen TransE vectors) fused into the tokens by aggregator layers; "
            "masked LM + denoising entity auto-encoder",
    defaults=merge(BERT.defaults, {"heads": ["mlm"]}),
    presets={
        # tiny: BERT-Tiny's two layers, one on each side
        "tiny": dict(n_layer=1, k_layers=1, attention=dict(n_head=2), d_model=128, entity_dim=32, entity_heads=2),
        "small": dict(n_layer=2, k_layers=2, attention=dict(n_head=8), d_model=512, entity_dim=100),
        "base": dict(n_layer=6, k_layers=6, attention=dict(n_head=12), d_model=768, entity_dim=100),  # section 4.1
    },
    objective="mlm+dea",
    default_tokenizer="wordpiece",
    architecture="encoder",
    options={"entities": dict(metavar="FILE", help="ernie: the knowledge graph, a TSV of head<TAB>relation<TAB>tail "
                              "lines (default: persons and relations read from the KJV's genealogies)")},
    build=KnowledgeEncoderModel,
    config_class=ErnieConfig,
))
