"""Mistral 7B (Jiang et al. 2023, "Mistral 7B").

Diff from LLaMA, section 2: sliding-window attention on every layer, each token attending to
itself and the W - 1 tokens before it (W = 4096; a token still reaches W * n_layer tokens back
through the stack), which lets a rolling buffer cache keep only the last keys and values
(``core.cache.RollingCache``: memory stays flat as generation goes on); grouped-query attention
(8 K/V heads) at 7B. Table 1: a context of 8192, RMSNorm eps 1e-5.
"""

from dataclasses import dataclass, replace

from ..core.config import merge
from ..core.registry import Family, register
from ..interop.reference import Field
from .llama import LLAMA, REFERENCE as LLAMA_REFERENCE


@dataclass(frozen=True)
class Window(Field):
    """``sliding_window: null`` (Mistral v0.2 on) is no window: one as long as the context."""

    def read(self, config: dict):
        return config.get(self.theirs) or config.get("max_position_embeddings")


REFERENCE = replace(
    LLAMA_REFERENCE,
    model_type="mistral",
    architecture="MistralForCausalLM",
    fields=(*LLAMA_REFERENCE.fields, Window("attention.window", "sliding_window")),
    fixed={},  # LLaMA's bias and tensor-parallel switches are not in Mistral's config
    implies={"attention": {"pattern": ["local"]}},
)

register(Family(
    name="mistral",
    year=2023,
    parent="llama",
    paper="Jiang et al. 2023, Mistral 7B",
    changes="sliding-window attention on every layer with a rolling KV cache; grouped-query attention",
    defaults=merge(LLAMA.defaults, {"norm": {"eps": 1e-5}, "attention": {"pattern": ["local"], "window": 4096}}),
    presets={
        "tiny": dict(n_layer=4, attention=dict(n_head=4, n_kv_head=2, window=16), d_model=128, mlp=dict(d_ff=352),
                     max_positions=64),
        "small": dict(n_layer=6, attention=dict(n_head=6, n_kv_head=2, window=64), d_model=384, mlp=dict(d_ff=1024),
                      max_positions=256),
        "7b": dict(n_layer=32, attention=dict(n_head=32, n_kv_head=8), d_model=4096, mlp=dict(d_ff=14336),
                   max_positions=8192),
    },
    objective="clm",
    reference=REFERENCE,
))
