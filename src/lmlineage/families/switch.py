"""Switch Transformer (Fedus et al. 2021, "Switch Transformers: Scaling to Trillion Parameter
Models with Simple and Efficient Sparsity").

Diff from T5: the feed-forward sub-layer of every other block, in both stacks, becomes a Switch
layer (section 2.1; "expert frequency 1/2", Table 9): a router sends each token to its one
most probable expert MLP, whose output is scaled by that probability (eq. 2). Each expert holds
at most ``capacity_factor`` x its fair share of a sequence's tokens (section 2.2); the tokens
beyond it skip the layer through the residual. The router runs in float32 (section 2.4,
"selective precision"), reads its input under multiplicative jitter in training, and is trained
by the load-balancing loss, alpha = 10^-2 (eq. 4), plus ST-MoE's router z-loss (Zoph et al.
2022, eq. 5, 1e-3). All of it lives in the shared MoE layer (``layers/moe.py``). Pre-trained,
as T5, by span corruption.

Not reproduced: the reduced initialisation scale (section 2.4) and expert dropout (fine-tuning).
Reference: transformers' SwitchTransformersForConditionalGeneration. Its checkpoints fix one
``expert_capacity`` for training and evaluation; ours without one (the capacity factor in
training, no limit in evaluation) is written as a capacity no sequence reaches, and read back so.
"""

from dataclasses import dataclass, replace

from ..models.encoder_decoder import EncoderDecoderLM
from ..core.errors import UserError
from ..core.config import merge
from ..core.registry import Family, register
from ..interop.reference import Field
from ..interop.rules import Rename
from .t5 import DEFAULTS, reference

MLP = (("fc_in", "wi"), ("fc_out", "wo"))
UNLIMITED = 2**31 - 1  # int32's largest: a capacity that never drops a token


@dataclass(frozen=True)
class SparseStep(Field):
    """``encoder_sparse_step`` / ``decoder_sparse_step`` <-> ``moe.every``: block i's feed-forward is
    a Switch layer when i % step == 1, or in every block for step 1 (their rule and ours). A
    config without the key has it as transformers derives it: num_layers // num_sparse_layers.
    One step serves both stacks here."""

    def read(self, config: dict):
        steps = {stack: config.get(f"{stack}_sparse_step", _derived_step(config, stack)) for stack in ("encoder", "decoder")}
        if steps["encoder"] != steps["decoder"]:
            raise UserError(f"config.json: encoder_sparse_step={steps['encoder']} and decoder_sparse_step="
                            f"{steps['decoder']} differ", "lmlineage places experts alike in both stacks")
        return steps["encoder"]


def _derived_step(config: dict, stack: str) -> int:
    layers = config.get("num_layers", 12)
    if stack == "decoder":
        layers = config.get("num_decoder_layers") or layers
    sparse = config.get(f"num_sparse_{stack}_layers", 3)
    return layers // sparse if sparse > 0 else layers


@dataclass(frozen=True)
class Capacity(Field):
    """``expert_capacity``: always a number there; ours may be none, written as ``UNLIMITED``."""

    def read(self, config: dict):
        value = super().read(config)
        return None if value >= UNLIMITED else value

    def write(self, value):
        return UNLIMITED if value is None else value


def expert_rules(stack: str, n_sub: int) -> tuple:
    """A Switch layer's router and experts (``{j}``: each expert) in one stack's blocks."""
    ours, theirs = f"{stack}.layers.{{i}}.mlp.", f"{stack}.block.{{i}}.layer.{n_sub - 1}.mlp."
    return (Rename(ours + "router.classifier.weight", theirs + "router.classifier.weight"),
            *(Rename(f"{ours}experts.{{j}}.{o}.weight", f"{theirs}experts.expert_{{j}}.{t}.weight") for o, t in MLP))


_T5_LAYOUT = reference("switch_transformers", "SwitchTransformersForConditionalGeneration", MLP,
                       {"tie_word_embeddings": True, "router_bias": False}, dense="mlp")
REFERENCE = replace(
    _T5_LAYOUT,
    fields=_T5_LAYOUT.fields + (
        Field("mlp.activation", "dense_act_fn", values={"relu": "relu"}, default="relu"),
        Field("moe.n_experts", "num_experts", default=8),
        SparseStep("moe.every", "encoder_sparse_step"),
        SparseStep("moe.every", "decoder_sparse_step"),
        Capacity("moe.expert_capacity", "expert_capacity", default=64),
        Field("moe.aux_coef", "router_aux_loss_coef", default=0.001),
        Field("moe.z_coef", "router_z_loss_coef", default=0.001),
        Field("moe.jitter", "router_jitter_noise", default=0.01),
    ),
    rules=_T5_LAYOUT.rules + expert_rules("encoder", 2) + expert_rules("decoder", 3),
    export_extra={**_T5_LAYOUT.export_extra, "router_dtype": "float32"},  # ours always routes in float32
)

SWITCH = register(Family(
    name="switch",
    year=2021,
    parent="t5",
    paper="Fedus et al. 2021, Switch Transformers: Scaling to Trillion Parameter Models with Simple and Efficient "
          "Sparsity",
    changes="top-1 mixture of experts in every other feed-forward layer, capacity factor, load-balancing loss",
    defaults=merge(DEFAULTS, dict(moe=dict(n_experts=8, every=2, top_k=1, capacity_factor=1.25, aux_coef=0.01,
                                           z_coef=1e-3, jitter=0.01))),
    presets={
        "tiny": dict(n_layer=2, attention=dict(n_head=4, head_dim=32), d_model=128, mlp=dict(d_ff=512),
                     moe=dict(n_experts=4), max_positions=128),
        # Switch-Base (Table 9): T5-Base with a Switch layer in every other block; released with 8 to 256 experts.
        "base-8": dict(n_layer=12, attention=dict(n_head=12, head_dim=64), d_model=768, mlp=dict(d_ff=3072),
                       moe=dict(n_experts=8)),
        "base-128": dict(n_layer=12, attention=dict(n_head=12, head_dim=64), d_model=768, mlp=dict(d_ff=3072),
                         moe=dict(n_experts=128)),
    },
    objective="span_corruption",
    default_tokenizer="unigram",
    architecture="encoder-decoder",
    reference=REFERENCE,
    build=EncoderDecoderLM,
))
