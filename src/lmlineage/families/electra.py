"""ELECTRA (Clark et al. 2020, "ELECTRA: Pre-training Text Encoders as Discriminators Rather
Than Generators").

Diff from BERT: the same encoder, pre-trained as a discriminator (section 2): a small generator,
itself a BERT trained with the masked LM, fills the masked positions with samples, and the
discriminator tells for every token whether it is original or replaced (replaced-token detection,
a one-logit head); loss = MLM + 50 * RTD. The two share their token and position embeddings
(section 3.2), E wide and projected up to each one's width where they differ (ELECTRA-Small:
E = 128, H = 256). After pre-training the discriminator is the model; its generator is a
checkpoint of its own shape (ElectraForMaskedLM), 1/4 to 1/3 of the width (appendix, table 6).
"""

from dataclasses import dataclass

from ..models.encoder import EncoderModel
from ..core.config import ModelConfig, merge
from ..core.errors import UserError
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Rename, Tie
from .bert import BERT, FIELDS, encoder_rules, weight_and_bias

@dataclass
class ElectraConfig(ModelConfig):
    # The generator's width as a share of the discriminator's (appendix, table 6: 1/4 to 1/3).
    generator_fraction: float = 0.25

    FLAT = {**ModelConfig.FLAT, "extra.generator_fraction": "generator_fraction"}

    def validate(self, where: str = "") -> None:
        super().validate(where)
        if not 0 < self.generator_fraction <= 1:
            raise UserError(f"config generator_fraction must lie in (0, 1], got {self.generator_fraction}")


BACKBONE = encoder_rules("electra.") + weight_and_bias("backbone.embed_proj", "electra.embeddings_project")
EMBED_DIM = Field("embedding.dim", "embedding_size", default=128)


def reference(architecture: str, heads: list[str], rules: tuple, fields=FIELDS) -> ReferenceSpec:
    return ReferenceSpec(
        model_type="electra", architecture=architecture, fields=fields + (EMBED_DIM,), rules=BACKBONE + rules,
        fixed={"position_embedding_type": "absolute", "is_decoder": False, "add_cross_attention": False},
        export_extra={"pad_token_id": 0}, implies={"heads": heads},
    )


REFERENCES = (
    reference("ElectraForPreTraining", ["rtd"], (  # the discriminator
        *weight_and_bias("rtd.dense", "discriminator_predictions.dense"),
        *weight_and_bias("rtd.prediction", "discriminator_predictions.dense_prediction"),
    )),
    reference("ElectraForMaskedLM", ["mlm"], (  # the generator: H -> E -> vocabulary, tied
        *weight_and_bias("mlm.transform", "generator_predictions.dense"),
        *weight_and_bias("mlm.norm", "generator_predictions.LayerNorm"),
        Rename("mlm.decoder.bias", "generator_lm_head.bias"),
        Tie("mlm.decoder.weight", "generator_lm_head.weight"),
    ), fields=tuple(f for f in FIELDS if f.ours != "mlp.activation") + (
        # Its head applies GELU whatever hidden_act says; only GELU generators are read.
        Field("mlp.activation", "hidden_act", values={"gelu": "gelu"}),)),
)

register(Family(
    name="electra",
    year=2020,
    parent="bert",
    paper="Clark et al. 2020, ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators",
    changes="a small MLM generator fills masked positions; the discriminator detects replaced tokens everywhere",
    defaults=merge(BERT.defaults, {"heads": ["rtd"]}),
    presets={
        "tiny": dict(n_layer=2, attention=dict(n_head=2), d_model=128, embedding=dict(dim=64)),
        "small": dict(n_layer=12, attention=dict(n_head=4), d_model=256, mlp=dict(d_ff=1024),
                      embedding=dict(dim=128)),  # 14M
        "base": dict(n_layer=12, attention=dict(n_head=12), d_model=768, embedding=dict(dim=768),
                     generator_fraction=1 / 3),  # 110M
        "large": dict(n_layer=24, attention=dict(n_head=16), d_model=1024, embedding=dict(dim=1024)),  # 335M
    },
    objective="mlm+rtd",
    default_tokenizer="wordpiece",
    architecture="encoder",
    reference=REFERENCES,
    build=EncoderModel,
    config_class=ElectraConfig,
))
