"""RoBERTa (Liu et al. 2019, "RoBERTa: A Robustly Optimized BERT Pretraining Approach").

Diff from BERT: the same network, trained differently (section 4): dynamic masking, no next
sentence prediction, full-length sequences, bigger batches and more data; GPT-2's byte-level
BPE with 50265 tokens (section 4.4). Its one structural quirk comes from fairseq: positions
count from padding_idx + 1 = 2 and padding sits at position 1 (hence 514 position rows).
"""

import torch

from ..models.encoder import EncoderModel
from ..core.config import merge
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from .bert import BERT, FIELDS, encoder_rules, mlm_rules, pooler_rules

PAD_ID = 1  # <pad> in RoBERTa's vocabulary, and fairseq's padding_idx for positions


class RobertaEncoderModel(EncoderModel):
    def default_positions(self, input_ids):
        """fairseq's make_positions: real tokens at 2, 3, ...; padding at 1."""
        real = input_ids.ne(PAD_ID).long()
        return torch.cumsum(real, dim=1) * real + PAD_ID

    @property
    def max_positions(self) -> int:
        return self.config.max_positions - PAD_ID - 1  # the longest input: positions 0 and 1 are never real


def reference(architecture: str, heads: list[str], rules: tuple) -> ReferenceSpec:
    return ReferenceSpec(
        model_type="roberta", architecture=architecture, rules=rules,
        # Its LM head applies GELU whatever hidden_act says; only GELU checkpoints exist.
        fields=tuple(f for f in FIELDS if f.ours != "mlp.activation") + (Field("mlp.activation", "hidden_act",
                                                                           values={"gelu": "gelu"}),),
        fixed={"pad_token_id": PAD_ID, "position_embedding_type": "absolute", "is_decoder": False,
               "add_cross_attention": False},
        export_extra={"bos_token_id": 0, "eos_token_id": 2}, implies={"heads": heads},
    )


REFERENCES = (
    reference("RobertaForMaskedLM", ["mlm"],
              encoder_rules("roberta.") + mlm_rules("lm_head", transform="dense", norm="layer_norm")),
    reference("RobertaModel", ["pooler"], encoder_rules("") + pooler_rules("")),
)

register(Family(
    name="roberta",
    year=2019,
    parent="bert",
    paper="Liu et al. 2019, RoBERTa: A Robustly Optimized BERT Pretraining Approach",
    changes="no NSP, dynamic masking, longer training on more data, byte-level BPE; positions from 2 (fairseq)",
    defaults=merge(BERT.defaults,
                   {"norm": {"eps": 1e-5}, "vocab_size": 50265, "embedding": {"type_vocab_size": 1},
                    "max_positions": 514, "heads": ["mlm"]}),
    presets={
        "tiny": dict(n_layer=2, attention=dict(n_head=2), d_model=128),
        "small": dict(n_layer=4, attention=dict(n_head=8), d_model=512),
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768),  # 125M (section 5)
        "large": dict(n_layer=24, attention=dict(n_head=16), d_model=1024),  # 355M (section 5)
    },
    objective="mlm",  # with masks drawn afresh every time a sequence is seen (section 4.1)
    default_tokenizer="wordpiece",  # our byte-level BPE has no <mask> to mask with
    architecture="encoder",
    reference=REFERENCES,
    build=RobertaEncoderModel,
))
