"""CoCa (Yu et al. 2022, "CoCa: Contrastive Captioners are Image-Text Foundation Models").

Diff from BLIP: one text decoder instead of an encoder and a decoder sharing weights, cut in two
(section 3.2): its first layers attend to the text alone (unimodal: a [CLS] appended to the text
gives the contrastive embedding), the rest also cross-attend to the image (multimodal: captioning).
The image side is summarised by attentional pooling (one query for contrast, ``n_queries`` for the
captioner). No image-text matching; the loss is lambda_Con * L_Con + lambda_Cap * L_Cap with
lambda_Cap = 2, lambda_Con = 1 (section 4.1). Pre-LN throughout. No reference here (open_clip
needs torchvision): tested by golden cases (tests/unit/test_coca.py).
"""

from dataclasses import dataclass

from ..core.config import merge, require_positive, require_range
from ..core.errors import UserError
from ..core.registry import Family, register
from ..models.coca import CocaModel
from .blip import VISION, BlipConfig, preset


@dataclass
class CocaConfig(BlipConfig):
    n_unimodal: int = 1  # the decoder's first layers, which attend to the text alone
    n_queries: int = 256  # the captioner's attentional-pooling queries (section 4.1: 256)
    caption_weight: float = 2.0  # lambda_Cap
    contrast_weight: float = 1.0  # lambda_Con

    def validate(self, where: str = "") -> None:
        super().validate(where)
        require_positive(self, where, "n_unimodal", "n_queries")
        require_range(self, where, "caption_weight", 0, False)
        require_range(self, where, "contrast_weight", 0, False)
        if self.n_unimodal >= self.n_layer:
            raise UserError(f"config n_unimodal={self.n_unimodal} leaves none of n_layer={self.n_layer} multimodal",
                            "give n_unimodal below n_layer")


DEFAULTS = dict(norm=dict(kind="layernorm", eps=1e-5, placement="pre", final=True), position=dict(kind="learned"),
                mlp=dict(activation="gelu"), bias=True, embedding=dict(tie=False), vocab_size=49408, max_positions=76,
                dropout=0.0, heads=["itc", "lm"], vision=merge(VISION, {"image": {"channels": 3}}))

register(Family(
    name="coca",
    year=2022,
    parent="blip",
    paper="Yu et al. 2022, CoCa: Contrastive Captioners are Image-Text Foundation Models",
    changes="one text decoder: unimodal layers (a [CLS] gives the contrastive embedding) then multimodal "
            "cross-attending layers; attentional pooling of the image; contrastive + 2 x captioning loss; no matching",
    defaults=DEFAULTS,
    presets={
        # tiny: sized for the 8x8 digits and their captions; trains in a minute or two on a CPU.
        "tiny": preset(2, 4, 64, 128, 8, 2, projection_dim=64, n_unimodal=1, n_queries=16),
        "small": preset(4, 8, 256, 1024, 32, 4, projection_dim=128, n_unimodal=2, n_queries=64),
        # CoCa-Base (table 1): ViT 12 layers, decoder 6 unimodal + 6 multimodal, width 768
        "base": preset(12, 12, 768, 3072, 288, 18, projection_dim=768, n_unimodal=6),
    },
    objective="coca",
    default_tokenizer="wordpiece",
    architecture="encoder-decoder",
    build=CocaModel,
    config_class=CocaConfig,
))
