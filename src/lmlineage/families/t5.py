"""T5 (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
Text-to-Text Transformer").

Diff from the Transformer (section 2.1): layer norm before each sub-block, without bias or
centring (RMS style), plus a final one in each stack; no position embeddings: a learned scalar
per head and relative-offset bucket added to the self-attention scores (32 buckets up to 128
tokens, one table per stack, bidirectional in the encoder, causal in the decoder, none in
cross-attention); no biases anywhere; ReLU MLP; one embedding shared by encoder, decoder and
the output layer. Mesh TensorFlow quirks the checkpoints carry: attention scores are not divided
by sqrt(d_kv) (the initialisation absorbs it) and the tied head reads the decoder output times
d_model ** -0.5, which presumes Mesh TensorFlow's initialisation (``init="fan_in"``: embeddings
N(0, 1), each projection N(0, 1 / fan_in)); with GPT-2's N(0, 0.02) the logits start 50 times too
small and span corruption barely leaves the unigram plateau in a few hundred steps. Pre-trained by
span corruption (section 3.1.4).
"""

from dataclasses import replace

from ..models.encoder_decoder import EncoderDecoderLM
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Ignore, Rename, Tie

FIELDS = (
    Field("vocab_size", "vocab_size"),
    Field("d_model", "d_model"),
    Field("attention.head_dim", "d_kv"),
    Field("mlp.d_ff", "d_ff"),
    Field("n_layer", "num_layers"),
    Field("decoder.n_layer", "num_decoder_layers"),
    Field("attention.n_head", "num_heads"),
    Field("position.buckets", "relative_attention_num_buckets", default=32),
    Field("position.max_distance", "relative_attention_max_distance", default=128),
    Field("norm.eps", "layer_norm_epsilon", default=1e-6),
    Field("dropout", "dropout_rate", default=0.1),
    Field("decoder.start_id", "decoder_start_token_id", default=0),
)


def stack_rules(stack: str, n_sub: int, mlp: tuple[tuple[str, str], ...], dense: str = "DenseReluDense") -> tuple:
    """One stack's blocks: ``layer.0`` self-attention, (decoder) ``layer.1`` cross-attention,
    ``layer.{n_sub - 1}`` the feed-forward, whose MLP module is ``dense``; ``mlp`` pairs our MLP
    names with theirs."""
    ours, theirs = f"{stack}.layers.{{i}}.", f"{stack}.block.{{i}}.layer."
    attn = theirs + "0.SelfAttention."
    ff = f"{theirs}{n_sub - 1}."
    rules = [
        Fuse(ours + "attn.qkv.weight", tuple(f"{attn}{p}.weight" for p in "qkv"), split="qkv"),
        Rename(ours + "attn.out.weight", attn + "o.weight"),
        Rename(ours + "attn_norm.weight", theirs + "0.layer_norm.weight"),
        *(Rename(f"{ours}mlp.{o}.weight", f"{ff}{dense}.{t}.weight") for o, t in mlp),
        Rename(ours + "mlp_norm.weight", ff + "layer_norm.weight"),
        # The relative bucket table lives in the first block's self-attention; the others share it.
        Rename(f"{stack}.score_bias.embed.weight", f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
        Rename(f"{stack}.norm.weight", f"{stack}.final_layer_norm.weight"),
    ]
    if n_sub == 3:
        cross = theirs + "1.EncDecAttention."
        rules += [
            Rename(ours + "cross_attn.q.weight", cross + "q.weight"),
            Fuse(ours + "cross_attn.kv.weight", (cross + "k.weight", cross + "v.weight")),
            Rename(ours + "cross_attn.out.weight", cross + "o.weight"),
            Rename(ours + "cross_norm.weight", theirs + "1.layer_norm.weight"),
        ]
    return tuple(rules)


def reference(model_type: str, architecture: str, mlp: tuple, fixed: dict,
              dense: str = "DenseReluDense") -> ReferenceSpec:
    """The T5ForConditionalGeneration layout; mT5 renames the model and gates the MLP."""
    return ReferenceSpec(
        model_type=model_type,
        architecture=architecture,
        fields=FIELDS,
        rules=(
            Rename("encoder.embed_tokens.weight", "shared.weight"),
            Ignore("encoder.embed_tokens.weight"),  # copies of ``shared`` some checkpoints store
            Tie("decoder.embed_tokens.weight", "decoder.embed_tokens.weight"),
            Tie("lm_head.weight", "lm_head.weight"),
            *stack_rules("encoder", 2, mlp, dense),
            *stack_rules("decoder", 3, mlp, dense),
            # A cross-attention table the reference declares but never uses.
            Ignore("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"),
        ),
        fixed={"is_encoder_decoder": True, **fixed},
        export_extra={"pad_token_id": 0, "eos_token_id": 1, "is_decoder": False},
    )


REFERENCE = replace(reference("t5", "T5ForConditionalGeneration", (("fc_in", "wi"), ("fc_out", "wo")),
                              {"feed_forward_proj": "relu", "scale_decoder_outputs": True, "tie_word_embeddings": True}),
                    implies={"mlp": {"kind": "mlp"}})
GATED = (("fc_gate", "wi_0"), ("fc_in", "wi_1"), ("fc_out", "wo"))
# T5 v1.1, the released "T5.1.1" checkpoints (model type t5, feed_forward_proj gated-gelu): mT5's
# architecture (see mt5.py) without its vocabulary: GeGLU, an untied output layer read without the
# rescale. Their config.json says tie_word_embeddings false (transformers 5 writes
# scale_decoder_outputs false instead); the head is untied either way.
_GATED_T5 = reference("t5", "T5ForConditionalGeneration", GATED,
                      {"feed_forward_proj": "gated-gelu", "scale_decoder_outputs": False})
V1_1 = replace(_GATED_T5,
               implies={"mlp": {"kind": "glu", "activation": "gelu_tanh"},
                        "embedding": {"tie": False, "rescale_head": False}},
               export_extra={**_GATED_T5.export_extra, "tie_word_embeddings": False})

DEFAULTS = dict(norm=dict(kind="rmsnorm", eps=1e-6, placement="pre"), position=dict(kind="relative"),
                mlp=dict(activation="relu", kind="mlp"), bias=False, embedding=dict(tie=True, rescale_head=True),
                attention=dict(scale=1.0), init=dict(kind="fan_in"), dropout=0.1, vocab_size=32128, max_positions=512,
                decoder=dict(start_id=0))

T5 = register(Family(
    name="t5",
    year=2019,
    parent="transformer",
    paper="Raffel et al. 2020, Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer",
    changes="pre-RMSNorm, relative position buckets, no biases, shared embeddings; span-corruption pre-training",
    defaults=DEFAULTS,
    presets={
        "tiny": dict(n_layer=2, attention=dict(n_head=4, head_dim=32), d_model=128, mlp=dict(d_ff=512),
                     max_positions=128),
        # Section 3.1 (base) and 3.7 (small, large): d_kv = 64 throughout.
        "small": dict(n_layer=6, attention=dict(n_head=8, head_dim=64), d_model=512, mlp=dict(d_ff=2048)),  # 60M
        "base": dict(n_layer=12, attention=dict(n_head=12, head_dim=64), d_model=768, mlp=dict(d_ff=3072)),  # 220M
        "large": dict(n_layer=24, attention=dict(n_head=16, head_dim=64), d_model=1024, mlp=dict(d_ff=4096)),  # 770M
    },
    objective="span_corruption",
    default_tokenizer="unigram",
    architecture="encoder-decoder",
    reference=(REFERENCE, V1_1),
    build=EncoderDecoderLM,
))
