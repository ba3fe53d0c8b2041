"""GPT-4 (OpenAI 2023, "GPT-4 Technical Report").

What is known: a closed, large multimodal model that takes images and text in and writes text
out. What is not: the report states that it gives "no further details about the architecture
(including model size), hardware, training compute, dataset construction, training method".
So this family is a stand-in, not GPT-4: the image-in, text-out design of PaLM-E (``palm_e.py``:
ViT vectors projected into the decoder's input where the prompt says <img>) on a LLaMA-style
decoder (pre-RMSNorm, SwiGLU, RoPE, untied head), the open design most such models since follow.
"""

from ..core.registry import Family, register
from ..models.image_text_lm import ImageTextLM
from .llama import LLAMA
from .palm_e import OPTIONS, ImageQuestionConfig, image_text_presets

register(Family(
    name="gpt-4",
    year=2023,
    parent="palm-e",
    paper="OpenAI 2023, GPT-4 Technical Report (architecture not published)",
    changes="architecture not published: a closed multimodal model, image and text in, text out; built here "
            "as palm-e's design (image vectors at <img> in the prompt) on a LLaMA-style decoder, a stand-in",
    defaults=dict(LLAMA.defaults, vocab_size=64, image_token_id=63),  # the placeholder: the last id
    presets=image_text_presets(LLAMA.presets),
    objective="image_questions",
    options=OPTIONS,
    build=ImageTextLM,
    config_class=ImageQuestionConfig,
))
