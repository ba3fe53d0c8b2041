"""BART (Lewis et al. 2019, "BART: Denoising Sequence-to-Sequence Pre-training for Natural
Language Generation, Translation, and Comprehension").

Diff from the Transformer (section 2.1): "we use the standard sequence-to-sequence Transformer
architecture ... except, following GPT, that we modify ReLU activation functions to GeLUs";
learned positions instead of sinusoids (stored from row 2: the released checkpoints keep two
unused rows), a LayerNorm right after the embeddings in both stacks, no sqrt(d_model) scaling.
Pre-trained by reconstructing documents from the corruptions of section 2.2
(``objectives/bart_noise.py``): the large model masks 30% of tokens with Poisson(3) spans and
permutes all sentences (section 5.1). The decoder starts with </s>.
"""

from ..models.encoder_decoder import EncoderDecoderLM
from ..core.registry import Family, register
from ..interop.reference import ReferenceSpec
from ..interop.rules import Offset
from .transformer import FIELDS, SHARED_EMBEDDINGS, stack_rules, weight_and_bias

REFERENCE = ReferenceSpec(
    model_type="bart",
    architecture="BartForConditionalGeneration",
    fields=FIELDS,
    rules=(
        *SHARED_EMBEDDINGS,
        *(rule for stack in ("encoder", "decoder") for rule in (
            Offset(f"{stack}.embed_positions.weight", f"model.{stack}.embed_positions.weight"),
            *weight_and_bias(f"{stack}.embed_norm", f"model.{stack}.layernorm_embedding"),
        )),
        *stack_rules("model."),
    ),
    fixed={"is_encoder_decoder": True, "tie_word_embeddings": True},
    export_extra={"forced_eos_token_id": None, "bos_token_id": 0},
)

BART = register(Family(
    name="bart",
    year=2019,
    parent="transformer",
    paper="Lewis et al. 2019, BART: Denoising Sequence-to-Sequence Pre-training for Natural Language Generation, "
          "Translation, and Comprehension",
    changes="GELU, learned positions, embedding LayerNorm; pre-trained by denoising (infilling, sentence permutation)",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-5, placement="post", final=False, after_embeddings=True),
                  position=dict(kind="learned"), mlp=dict(activation="gelu", kind="mlp"), bias=True,
                  embedding=dict(scale=False, tie=True, head_bias=True), dropout=0.1, max_positions=1024,
                  vocab_size=50265, decoder=dict(start_id=2)),
    presets={
        "tiny": dict(n_layer=2, decoder=dict(n_layer=2), attention=dict(n_head=4), d_model=128, mlp=dict(d_ff=512),
                     max_positions=256),
        # Section 3 / the released checkpoints: base 6+6 layers of 768, large 12+12 of 1024.
        "base": dict(n_layer=6, decoder=dict(n_layer=6), attention=dict(n_head=12), d_model=768, mlp=dict(d_ff=3072)),
        "large": dict(n_layer=12, decoder=dict(n_layer=12), attention=dict(n_head=16), d_model=1024,
                      mlp=dict(d_ff=4096)),
    },
    objective="bart_denoising",
    default_tokenizer="unigram",
    architecture="encoder-decoder",
    reference=REFERENCE,
    build=EncoderDecoderLM,
))
