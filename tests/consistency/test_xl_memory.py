"""Transformer-XL's recurrence is right: with a memory covering the whole history, reading a text
segment by segment equals one causal pass over all of it; a shorter memory forgets exactly what
it should; decoding through the memory matches recomputation; no gradient reaches the memory."""

import pytest
import torch

from lmlineage.core.cache import XLMemory
from lmlineage.core.registry import get_family
from lmlineage.models import build_model


def tiny(**overrides):
    torch.manual_seed(0)
    sizes = dict(vocab_size=31, n_layer=3, d_model=32, attention=dict(n_head=4), mlp=dict(d_ff=48), max_positions=64,
                 segment=5, mem_len=64, dropout=0.0)
    return build_model(get_family("transformer-xl").config("tiny", **(sizes | overrides))).eval()


@pytest.mark.parametrize("segment", [1, 5, 7])
def test_segments_with_a_whole_memory_equal_one_causal_pass(segment):
    model = tiny(segment=segment)
    ids = torch.randint(0, 31, (2, 23))
    with torch.no_grad():
        whole = model(ids, cache=XLMemory(0), output_hidden_states=True)  # with a cache: one pass, no segments
        pieces = model(ids, output_hidden_states=True)  # segment by segment, a memory of 64 >= 23
    assert pieces.logits.shape == whole.logits.shape == (2, 23, 31)
    torch.testing.assert_close(pieces.logits, whole.logits, atol=1e-5, rtol=0)
    for ours, theirs in zip(pieces.hidden_states, whole.hidden_states, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_a_short_memory_sees_exactly_mem_len_tokens_back():
    """With segment 4 and memory 4, the token at place 9 (third segment, second place) is scored from
    places 4..9 in the first layer: changing place 3 changes nothing there, changing place 4 does."""
    model = tiny(segment=4, mem_len=4, n_layer=1)
    ids = torch.randint(0, 31, (1, 12))
    with torch.no_grad():
        base = model(ids).logits[0, 9]
        far, near = ids.clone(), ids.clone()
        far[0, 3], near[0, 4] = (ids[0, 3] + 1) % 31, (ids[0, 4] + 1) % 31
        assert torch.equal(model(far).logits[0, 9], base)
        assert not torch.allclose(model(near).logits[0, 9], base)
        # the same as a fresh pass over just the tokens it may see, at their places
        memory = XLMemory(4)
        model(ids[:, :8], cache=memory)  # leaves places 4..7 in the memory
        torch.testing.assert_close(model(ids[:, 8:], cache=memory).logits[0, 1], base, atol=1e-5, rtol=0)


def test_decoding_token_by_token_through_the_memory_matches():
    model = tiny(segment=64)
    ids = torch.randint(0, 31, (1, 15))
    with torch.no_grad():
        whole = model(ids).logits
        memory = model.new_cache()
        steps = torch.cat([model(ids[:, i:i + 1], cache=memory).logits for i in range(15)], dim=1)
    torch.testing.assert_close(steps, whole, atol=1e-5, rtol=0)


def test_the_memory_is_gradient_stopped():
    model = tiny(segment=4, mem_len=4, embedding=dict(tie=False)).train()  # untied: the head's rows get no gradient
    ids = torch.randint(0, 31, (1, 8))
    embeddings = model.backbone.embed_tokens.weight
    out = model(ids).logits[0, 4:].sum()  # the second segment; the first reaches it only through memory
    (grad,) = torch.autograd.grad(out, embeddings)
    first_only = set(ids[0, :4].tolist()) - set(ids[0, 4:].tolist())
    assert first_only and all(float(grad[t].abs().sum()) == 0 for t in first_only)
