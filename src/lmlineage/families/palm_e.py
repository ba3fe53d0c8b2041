"""PaLM-E (Driess et al. 2023, "PaLM-E: An Embodied Multimodal Language Model").

Diff from PaLM: the decoder also reads images. A ViT encodes the image; one affine projection
maps its output vectors into the LM's word-embedding space (section 3.1, "ψ"), and they take the
place of the image placeholder in the prompt, interleaved with the text ("what digit is <img>?",
section 3: "multimodal sentences"). The LM answers in text; the loss is on the answer alone
(section 3.3). Trained end to end, or with the LM frozen (section 6.3: encoder and projection
learn). The LM is PaLM's block (parallel SwiGLU, multi-query attention, RoPE, tied embeddings);
the encoder is ViT's (``families/vit.py``). Model: ``models/image_text_lm.py``.
"""

from dataclasses import dataclass

from ..core.config import ImageTextConfig
from ..core.errors import UserError
from ..core.registry import Family, register
from ..models.image_text_lm import ImageTextLM
from .palm import PALM
from .vit import VIT

@dataclass
class ImageQuestionConfig(ImageTextConfig):
    """The LM's config and its image encoder's (``vision``). ``image_token_id``: the placeholder's
    id (the last of the vocabulary, which no text encodes to); ``freeze_lm``: train the image
    encoder and the projection only (section 6.3's frozen LM); ``text_only``: the ablation that
    reads the question without its image; ``shape_questions``: train on the scenes' "what shape is
    the red one" questions too (``vision/questions.py``; never asked of the held-out images);
    ``move_scenes``: flip and move each training draw of a scene at random (the same module);
    ``patch_shapes``: the weight of a loss that teaches the image encoder where the objects are and
    what shape each is, per patch, from the training scenes' masks (0: none; its head is
    ``models/image_text_lm.py``'s ``patch_shapes``)."""

    image_token_id: int = 0
    freeze_lm: bool = False
    text_only: bool = False
    shape_questions: bool = False
    move_scenes: bool = False
    patch_shapes: float = 0.0

    @property
    def image_tokens(self) -> int:
        """How many LM positions one image fills: the encoder's [class] and every patch."""
        return self.vision.image.n_patches + 1

    def validate(self, where: str = "") -> None:
        super().validate(where)
        if self.patch_shapes < 0:
            raise UserError(f"config {where}patch_shapes={self.patch_shapes} is below zero",
                            "give a loss weight >= 0 (0: no per-patch shape loss)")
        if not 0 <= self.image_token_id < self.vocab_size:
            raise UserError(f"config {where}image_token_id={self.image_token_id} is outside the vocabulary "
                            f"(vocab_size={self.vocab_size})", "give the id of the image placeholder token")


# The image encoder: ViT's spec, without a class head; the size and channels come from the data.
VISION = dict(VIT.defaults, family="vit", heads=[], labels=None, n_layer=2, attention=dict(n_head=4), d_model=64,
              mlp=dict(VIT.defaults["mlp"], d_ff=128), image=dict(size=8, patch=2, channels=1), vocab_size=1,
              max_positions=17)  # [class] and 16 patches

OPTIONS = {
    "freeze_lm": dict(action="store_true", help="palm-e, gpt-4: train the image encoder and the projection only "
                      "(the language model's weights stay as they start)"),
    "text_only": dict(action="store_true", help="palm-e, gpt-4: the ablation that reads each question without its "
                      "image (the same LM given the question alone)"),
    "shape_questions": dict(action="store_true", help="palm-e, gpt-4: on generated scenes, also train on \"what "
                            "shape is the red one in <img>?\" for every object (the held-out questions stay the same)"),
    "move_scenes": dict(action="store_true", help="palm-e, gpt-4: on generated scenes, flip each training draw "
                        "left to right at random and move it within its empty margins (every answer stays true)"),
    "patch_shapes": dict(type=float, metavar="W", help="palm-e, gpt-4: on generated scenes, also "
                         "teach the image encoder each patch's shape (or background) from the training scenes' "
                         "masks, a loss of weight W beside the answers' (an object-centric signal)"),
}


def image_text_presets(lm_presets: dict) -> dict:
    """The LM's tiny and small presets, each with an image encoder of its size."""
    return {
        # tiny: a 2-layer LM of width 128 and a 2-layer ViT of width 64 on 2x2 patches of the 8x8 digits;
        # trains in seconds on a CPU.
        "tiny": dict(lm_presets["tiny"], n_layer=2, vision=VISION),
        "small": dict(lm_presets["small"], vision=dict(VISION, n_layer=6, d_model=384, attention=dict(n_head=6),
                                                        mlp=dict(VISION["mlp"], d_ff=1536),
                                                        image=dict(size=32, patch=4, channels=3))),
    }


PALM_E = register(Family(
    name="palm-e",
    year=2023,
    parent="palm",
    paper="Driess et al. 2023, PaLM-E: An Embodied Multimodal Language Model",
    changes="ViT image vectors, projected by one affine map, take the place of <img> in the LM's input; "
            "answers in text; trained end to end or with the LM frozen",
    defaults=dict(PALM.defaults, vocab_size=64, image_token_id=63),  # the placeholder: the last id
    presets=image_text_presets(PALM.presets),
    objective="image_questions",
    options=OPTIONS,
    build=ImageTextLM,
    config_class=ImageQuestionConfig,
))
