"""The compiled decoding path (static cache, torch.compile'd one-token step; a CUDA graph on
GPU) gives the eager path's tokens. On CPU it runs the same buffers and compiled step without
the graph; benchmarks/gpu_suite.py checks the captured graph on CUDA."""

import pytest
import torch

from lmlineage.core.errors import UserError
from lmlineage.core.config import merge
from lmlineage.core.registry import get_family
from lmlineage.generation import generate
from lmlineage.models import build_model

SHAPE = dict(vocab_size=61, n_layer=2, d_model=48, attention=dict(n_head=4), max_positions=64)


def tiny(family, **extra):
    torch.manual_seed(0)
    return build_model(get_family(family).config("tiny", **merge(SHAPE, extra))).eval()


def left_padded_prompts():
    ids = torch.randint(1, 61, (3, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    mask[2, :1] = 0
    return ids * mask, mask


# gpt2: learned positions; llama: RoPE + grouped-query attention; bloom: ALiBi (key positions
# from the padding mask).
@pytest.mark.parametrize("family,extra", [
    ("gpt2", {}), ("llama", {"attention": {"n_kv_head": 2}}), pytest.param("bloom", {}, marks=pytest.mark.slow)])
def test_compiled_greedy_equals_eager(family, extra):
    model = tiny(family, **extra)
    ids, mask = left_padded_prompts()
    eager = generate(model, ids, attention_mask=mask, max_new_tokens=20)
    compiled = generate(model, ids, attention_mask=mask, max_new_tokens=20, compile=True)
    assert torch.equal(compiled, eager)
    again = generate(model, ids[1:2], max_new_tokens=20, compile=True)  # reuses the compiled step
    assert torch.equal(again, generate(model, ids[1:2], max_new_tokens=20))


def test_a_second_call_of_the_same_shape_reuses_the_session():
    from lmlineage.generation import compiled

    model = tiny("gpt2")
    first, second = torch.randint(1, 61, (2, 1, 6), generator=torch.Generator().manual_seed(5))
    generate(model, first, max_new_tokens=10, compile=True)
    session = compiled._SESSIONS[model]
    out = generate(model, second, max_new_tokens=10, compile=True)  # stale keys of the first call must not leak
    assert compiled._SESSIONS[model] is session
    assert torch.equal(out, generate(model, second, max_new_tokens=10))


def test_compiled_sampling_is_seeded_like_eager():
    model = tiny("gpt2")
    ids = torch.randint(1, 61, (1, 5))
    eager = generate(model, ids, max_new_tokens=12, temperature=1.0, top_k=5, seed=3)
    compiled = generate(model, ids, max_new_tokens=12, temperature=1.0, top_k=5, seed=3, compile=True)
    assert torch.equal(compiled, eager)


def test_compiled_decoding_refuses_beam_search():
    model = tiny("gpt2")
    with pytest.raises(UserError, match="one hypothesis"):
        generate(model, torch.randint(1, 61, (1, 5)), max_new_tokens=4, num_beams=2, compile=True)


def test_compiled_decoding_past_a_position_table_crops_like_eager():
    """Past the 64 learned positions every step re-reads the last window (generation/context.py)."""
    model = tiny("gpt2")
    ids, mask = left_padded_prompts()
    eager = generate(model, ids, attention_mask=mask, max_new_tokens=70)
    assert eager.shape == (3, 70)
    assert torch.equal(generate(model, ids, attention_mask=mask, max_new_tokens=70, compile=True), eager)
