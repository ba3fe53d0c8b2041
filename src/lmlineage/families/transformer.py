"""The Transformer (Vaswani et al. 2017, "Attention Is All You Need").

The root of the lineage: an encoder of self-attention blocks reads the source both ways, a
decoder reads the target left to right and attends to the encoder output in every block
(section 3.1, figure 1). Each sub-layer is wrapped as LayerNorm(x + Sublayer(x)) (post-LN);
the feed-forward layer is ReLU between two linear maps, d_ff = 4 d_model (section 3.3);
positions are fixed sinusoids added to the embeddings (section 3.5), which are multiplied by
sqrt(d_model) and shared by encoder, decoder and the pre-softmax projection (section 3.4).
Trained with label smoothing eps_ls = 0.1 (section 5.4) and the inverse square root
learning-rate schedule with 4000 warmup steps (section 5.3).

Two details follow the released implementations rather than the paper's text: the sinusoid
channels are laid out as all sines then all cosines (tensor2tensor, Marian; the paper's
formula interleaves them, a fixed permutation of the same features), and the output projection
has a bias (Marian's ``final_logits_bias``). The reference is ``MarianMTModel``, the same
architecture (post-LN, sinusoidal, shared embeddings, no final norms).
"""

from ..models.encoder_decoder import EncoderDecoderLM
from ..core.registry import Family, register
from ..interop.reference import Field, ReferenceSpec
from ..interop.rules import Fuse, Ignore, Rename, Reshape, Tie


def weight_and_bias(ours: str, theirs: str) -> tuple[Rename, Rename]:
    return Rename(f"{ours}.weight", f"{theirs}.weight"), Rename(f"{ours}.bias", f"{theirs}.bias")


def attention_rules(ours: str, theirs: str) -> tuple:
    """BART-style attention (q/k/v/out_proj, each with a bias) onto our fused projections."""
    return tuple(
        rule
        for part in ("weight", "bias")
        for rule in (Fuse(f"{ours}.qkv.{part}", tuple(f"{theirs}.{p}_proj.{part}" for p in "qkv"), split="qkv"),
                     Rename(f"{ours}.out.{part}", f"{theirs}.out_proj.{part}"))
    )


def cross_attention_rules(ours: str, theirs: str) -> tuple:
    return tuple(
        rule
        for part in ("weight", "bias")
        for rule in (Rename(f"{ours}.q.{part}", f"{theirs}.q_proj.{part}"),
                     Fuse(f"{ours}.kv.{part}", (f"{theirs}.k_proj.{part}", f"{theirs}.v_proj.{part}")),
                     Rename(f"{ours}.out.{part}", f"{theirs}.out_proj.{part}"))
    )


def stack_rules(prefix: str) -> tuple:
    """Marian's and BART's layer names (``{prefix}encoder.layers.{i}``, ``{prefix}decoder...``)."""
    enc, dec = f"{prefix}encoder.layers.{{i}}.", f"{prefix}decoder.layers.{{i}}."
    ours_enc, ours_dec = "encoder.layers.{i}.", "decoder.layers.{i}."
    rules = []
    for ours, theirs in ((ours_enc, enc), (ours_dec, dec)):
        rules += [
            *attention_rules(ours + "attn", theirs + "self_attn"),
            *weight_and_bias(ours + "attn_norm", theirs + "self_attn_layer_norm"),
            *weight_and_bias(ours + "mlp.fc_in", theirs + "fc1"),
            *weight_and_bias(ours + "mlp.fc_out", theirs + "fc2"),
            *weight_and_bias(ours + "mlp_norm", theirs + "final_layer_norm"),
        ]
    rules += [*cross_attention_rules(ours_dec + "cross_attn", dec + "encoder_attn"),
              *weight_and_bias(ours_dec + "cross_norm", dec + "encoder_attn_layer_norm")]
    return tuple(rules)


FIELDS = (
    Field("vocab_size", "vocab_size"),
    Field("d_model", "d_model"),
    Field("n_layer", "encoder_layers"),
    Field("decoder.n_layer", "decoder_layers"),
    Field("attention.n_head", "encoder_attention_heads"),
    Field("attention.n_head", "decoder_attention_heads"),
    Field("mlp.d_ff", "encoder_ffn_dim"),
    Field("mlp.d_ff", "decoder_ffn_dim"),
    Field("max_positions", "max_position_embeddings"),
    Field("mlp.activation", "activation_function", values={"relu": "relu", "gelu": "gelu"}),
    Field("embedding.scale", "scale_embedding", default=False),
    Field("dropout", "dropout", default=0.1),
    Field("init.std", "init_std", default=0.02),
    Field("decoder.start_id", "decoder_start_token_id"),
    Field("decoder.pad_id", "pad_token_id"),
    Field("decoder.eos_id", "eos_token_id"),
)

SHARED_EMBEDDINGS = (
    Rename("encoder.embed_tokens.weight", "model.shared.weight"),
    Ignore("model.encoder.embed_tokens.weight"),  # copies of ``shared`` some checkpoints store
    Tie("decoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"),
    Tie("lm_head.weight", "lm_head.weight"),
    Reshape("lm_head.bias", "final_logits_bias"),
)

REFERENCE = ReferenceSpec(
    model_type="marian",
    architecture="MarianMTModel",
    fields=FIELDS,
    rules=(
        *SHARED_EMBEDDINGS,
        # The sinusoid tables are recomputed, never stored (transformers skips them on save).
        Ignore("model.encoder.embed_positions.weight"),
        Ignore("model.decoder.embed_positions.weight"),
        *stack_rules("model."),
    ),
    fixed={"is_encoder_decoder": True, "share_encoder_decoder_embeddings": True, "tie_word_embeddings": True},
    export_extra={"forced_eos_token_id": None},
)

TRANSFORMER = register(Family(
    name="transformer",
    year=2017,
    parent=None,
    paper="Vaswani et al. 2017, Attention Is All You Need",
    changes="attention only: encoder-decoder of self- and cross-attention blocks, sinusoidal positions",
    defaults=dict(norm=dict(kind="layernorm", eps=1e-5, placement="post", final=False),
                  position=dict(kind="sinusoidal_halves"), mlp=dict(activation="relu", kind="mlp"), bias=True,
                  embedding=dict(scale=True, tie=True, head_bias=True), dropout=0.1, max_positions=512,
                  vocab_size=37000, decoder=dict(start_id=0)),
    presets={
        "tiny": dict(n_layer=2, decoder=dict(n_layer=2), attention=dict(n_head=4), d_model=128, mlp=dict(d_ff=512)),
        "small": dict(n_layer=3, decoder=dict(n_layer=3), attention=dict(n_head=4), d_model=256, mlp=dict(d_ff=1024)),
        # Table 3: base (65M with a 37000-token shared vocabulary) and big (213M, dropout 0.3).
        "base": dict(n_layer=6, decoder=dict(n_layer=6), attention=dict(n_head=8), d_model=512, mlp=dict(d_ff=2048)),
        "big": dict(n_layer=6, decoder=dict(n_layer=6), attention=dict(n_head=16), d_model=1024, mlp=dict(d_ff=4096),
                    dropout=0.3),
    },
    objective="seq2seq",
    default_tokenizer="bpe",
    architecture="encoder-decoder",
    reference=REFERENCE,
    build=EncoderDecoderLM,
))
