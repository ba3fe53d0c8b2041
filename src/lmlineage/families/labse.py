"""LaBSE (Feng et al. 2020, "Language-agnostic BERT Sentence Embedding").

Parent: BERT. The same encoder, used as a dual encoder (section 3.1): one tower, shared by the
source and the target language, reads each sentence alone; its [CLS] vector through BERT's pooler,
L2-normalised, is the sentence embedding (the released model's ``pooler_output``). Trained on
translation pairs with the bidirectional translation ranking loss (in-batch negatives, an
additive margin m = 0.3; ``objectives.contrastive``) instead of the masked LM; LaBSE
warm-starts that tower from MLM + TLM pre-training (section 3.2), which a run here skips.
Translation retrieval is then a nearest-neighbour search among sentence vectors.

A LaBSE checkpoint is a ``BertModel`` (its reference format); `lmlineage embed` gives the
normalised pooled [CLS] (``pooling="cls"``).
"""

from ..core.config import merge
from ..core.registry import Family, register
from ..models.encoder import EncoderModel
from .bert import BERT, encoder_rules, pooler_rules, reference

register(Family(
    name="labse",
    year=2020,
    parent="bert",
    paper="Feng et al. 2020, Language-agnostic BERT Sentence Embedding",
    changes="a dual encoder (one shared tower) ranking translations: normalised [CLS], in-batch negatives, margin",
    defaults=merge(BERT.defaults, {"heads": ["pooler"], "pooling": "cls", "vocab_size": 8000}),
    presets={
        "tiny": dict(n_layer=2, attention=dict(n_head=2), d_model=128, max_positions=128),
        "small": dict(n_layer=4, attention=dict(n_head=8), d_model=512, max_positions=256),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768, vocab_size=501153),  # 471M (section 3.3)
    },
    objective="translation_ranking",
    options={"pooling": dict(
        choices=("cls", "mean"), metavar="cls|mean",
        help="labse: the sentence vector the ranking loss trains, the pooled [CLS] (LaBSE's, the default) or the "
             "mean of the token states, which learns in a tenth of the steps from scratch: a warm start for a "
             "[CLS] run's --init")},
    default_tokenizer="wordpiece",
    architecture="encoder",
    reference=reference("BertModel", ["pooler"], encoder_rules("") + pooler_rules("")),
    build=EncoderModel,
))
