"""GPT-3 has no reference: its banded attention pattern is checked on hand-computed masks, a
banded layer is shown blind beyond its band, and with every layer dense the model is GPT-2
(which is parity-tested against `transformers`), weight for weight."""

import torch

from lmlineage.core import masks
from lmlineage.core.registry import get_family
from lmlineage.layers.attention import set_attention_backend
from lmlineage.models import build_model

T, F = True, False


def test_banded_causal_mask_by_hand():
    # Window 2: each query sees itself and the one token before it.
    assert masks.sliding_window(torch.arange(5), torch.arange(5), 2).tolist() == [
        [T, F, F, F, F],
        [T, T, F, F, F],
        [F, T, T, F, F],
        [F, F, T, T, F],
        [F, F, F, T, T],
    ]
    # Decoding: one query at position 5 (five cached tokens), window 3: keys 3, 4, 5.
    mask, is_causal = masks.build(1, 6, is_causal=True, query_index=torch.tensor([5]), window=3)
    assert not is_causal and mask[0, 0].tolist() == [[F, F, F, T, T, T]]
    # With left padding (row 1 has two pad tokens) the band follows the real tokens.
    key_mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
    mask, _ = masks.build(4, 4, is_causal=True, key_mask=key_mask, window=2)
    assert mask[0, 0].tolist() == [[T, F, F, F], [T, T, F, F], [F, T, T, F], [F, F, T, T]]
    assert mask[1, 0, 2:].tolist() == [[F, F, T, F], [F, F, T, T]]


def config(**changes):
    return get_family("gpt3").config("tiny", **{**dict(vocab_size=40, n_layer=2, d_model=32, max_positions=32), **changes})


def test_layers_alternate_dense_and_banded():
    model = build_model(config(attention=dict(window=3))).eval()
    ids = torch.randint(0, 40, (1, 12))
    seen = {}
    for i, layer in enumerate(model.backbone.layers):
        layer.attn.register_forward_pre_hook(lambda m, a, kw, i=i: seen.__setitem__(i, kw["mask"]), with_kwargs=True)
    model(ids)
    assert seen[0] is None  # dense: plain causal, no tensor
    assert seen[1][0, 0].tolist() == masks.sliding_window(torch.arange(12), torch.arange(12), 3).tolist()


def test_a_banded_layer_sees_only_its_band():
    torch.manual_seed(0)
    model = build_model(config(n_layer=1, attention=dict(pattern=["local"], window=4))).eval()
    ids = torch.randint(0, 40, (1, 16))
    changed = ids.clone()
    changed[0, :8] = (changed[0, :8] + 1) % 40  # tokens 0..7
    with torch.no_grad():
        a, b = model(ids).logits, model(changed).logits
    torch.testing.assert_close(a[0, 11:], b[0, 11:])  # positions 11+ see 8..15 at most
    assert not torch.allclose(a[0, 10], b[0, 10])  # position 10 sees 7


def test_all_dense_gpt3_is_gpt2():
    torch.manual_seed(0)
    gpt3 = build_model(config(attention=dict(pattern=["dense"]))).eval()
    gpt2 = build_model(get_family("gpt2").config("tiny", vocab_size=40, n_layer=2, d_model=32,
                                                 max_positions=32)).eval()
    gpt2.load_state_dict(gpt3.state_dict())
    ids = torch.randint(0, 40, (2, 20))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    with torch.no_grad():
        torch.testing.assert_close(gpt3(ids, attention_mask=mask).logits, gpt2(ids, attention_mask=mask).logits,
                                   atol=0, rtol=0)


def test_cached_decoding_and_eager_agree_with_full_passes():
    torch.manual_seed(1)
    model = build_model(config(attention=dict(window=3))).eval()
    ids = torch.randint(0, 40, (2, 14))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0  # left padding
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        full = model(ids, attention_mask=mask, position_ids=pos).logits
        cache = model.new_cache()
        steps = [model(ids[:, :6], attention_mask=mask[:, :6], position_ids=pos[:, :6], cache=cache).logits]
        for t in range(6, 14):
            steps.append(model(ids[:, t:t + 1], attention_mask=mask[:, :t + 1], position_ids=pos[:, t:t + 1],
                               cache=cache).logits)
        set_attention_backend(model, "eager")
        eager = model(ids, attention_mask=mask, position_ids=pos).logits
    keep = mask.bool()
    torch.testing.assert_close(torch.cat(steps, 1)[keep], full[keep], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eager[keep], full[keep], atol=1e-5, rtol=1e-5)
