"""PaLM has no reference: its block must equal the parity-tested GPT-NeoX-style parallel block
when both norms carry the same weights; multi-query attention must equal grouped-query
attention with one group, i.e. every query head reading the same key/value head."""

import torch

from lmlineage.blocks.block import Block
from lmlineage.core.registry import get_family
from lmlineage.layers.attention import set_attention_backend
from lmlineage.models import build_model


def test_palm_block_equals_neox_parallel_block_with_tied_norms():
    cfg = get_family("palm").config("tiny", d_model=32, attention=dict(n_head=4), mlp=dict(d_ff=48))
    palm = Block(cfg, 0)
    neox = Block(cfg.replace(norm=dict(placement="parallel")), 0)
    state = palm.state_dict()
    state.update({k.replace("attn_norm", "mlp_norm"): v for k, v in state.items() if "attn_norm" in k})
    neox.load_state_dict(state)
    x = torch.randn(2, 7, 32)
    torch.testing.assert_close(palm(x, is_causal=True), neox(x, is_causal=True))
    assert not any(k.endswith("bias") for k in palm.state_dict())  # no biases anywhere


def test_palm_multi_query_attention_shapes_and_eager_agreement():
    torch.manual_seed(0)
    model = build_model(get_family("palm").config("tiny", vocab_size=50, d_model=32, attention=dict(n_head=4),
                                                  mlp=dict(d_ff=48))).eval()
    qkv = model.backbone.layers[0].attn.qkv.weight
    assert qkv.shape == ((4 + 2) * 8, 32)  # four query heads, one key head, one value head
    assert model.lm_head.weight is model.backbone.embed_tokens.weight
    ids = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        sdpa = model(ids).logits
        set_attention_backend(model, "eager")
        eager = model(ids).logits
    torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=1e-5)
