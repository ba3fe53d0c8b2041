"""Banded attention decodes the same tokens on every path. GPT-3's local layers (a window shorter
than prompt + generation) give the tokens of an uncached full pass with the dynamic cache, the
static cache and the compiled step; a model banded on every layer decodes through the rolling
cache, whose size stays flat past the window.

The masks come from the caches' places on the device, so a captured step stays right at every
later position: shown here on CPU by decoding through a static cache whose host mirror is frozen,
as a CUDA graph freezes it (benchmarks/gpu_suite.py replays the real graph on CUDA)."""

import pytest
import torch

from lmlineage.core import masks
from lmlineage.core.cache import DynamicCache, RollingCache
from lmlineage.core.config import merge
from lmlineage.core.registry import get_family
from lmlineage.generation import generate
from lmlineage.models import build_model

WINDOW = 5
SHAPE = dict(vocab_size=61, n_layer=4, d_model=48, attention=dict(n_head=4, window=WINDOW), max_positions=64)


def gpt3(**extra):
    torch.manual_seed(0)
    return build_model(get_family("gpt3").config("tiny", **merge(SHAPE, extra))).eval()


def left_padded_prompts():
    ids = torch.randint(1, 61, (3, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    mask[2, :1] = 0
    return ids * mask, mask


@torch.no_grad()
def greedy_without_cache(model, ids, mask, n):
    """The plain definition: the whole sequence through the model for every new token."""
    out = []
    for _ in range(n):
        logits = model(ids, attention_mask=mask, position_ids=masks.positions(mask)).logits[:, -1]
        out.append(logits.argmax(-1))
        ids = torch.cat([ids, out[-1][:, None]], 1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
    return torch.stack(out, 1)


def test_local_layers_give_the_same_tokens_with_every_cache_and_the_compiled_step():
    model = gpt3()
    assert model.config.attention.pattern == ["dense", "local"]
    ids, mask = left_padded_prompts()
    expected = greedy_without_cache(model, ids, mask, 20)  # 27 tokens: the band slides far
    assert isinstance(model.new_cache(), DynamicCache)
    assert torch.equal(generate(model, ids, attention_mask=mask, max_new_tokens=20), expected)
    assert torch.equal(generate(model, ids, attention_mask=mask, max_new_tokens=20, static_cache=True), expected)
    assert torch.equal(generate(model, ids, attention_mask=mask, max_new_tokens=20, compile=True), expected)


def test_a_static_cache_step_reads_its_place_from_the_device():
    model = gpt3()
    ids = torch.randint(1, 61, (2, 14), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(ids).logits
        cache = model.new_cache(batch_size=2, max_length=14, static=True)
        model(ids[:, :6], attention_mask=torch.ones(2, 6, dtype=torch.long), cache=cache)
        steps = []
        for t in range(6, 14):
            cache.length = 6  # the host mirror as a graph captured at the first step would hold it
            positions = torch.full((2, 1), t)
            steps.append(model(ids[:, t:t + 1], position_ids=positions, cache=cache).logits)
    torch.testing.assert_close(torch.cat(steps, 1), full[:, 6:], atol=1e-5, rtol=1e-5)


def test_banded_everywhere_decodes_through_a_rolling_cache():
    model = gpt3(attention=dict(pattern=["local"]))
    assert isinstance(model.new_cache(), RollingCache)
    ids, mask = left_padded_prompts()
    expected = greedy_without_cache(model, ids, mask, 20)
    assert torch.equal(generate(model, ids, attention_mask=mask, max_new_tokens=20), expected)
    assert torch.equal(generate(model, ids, attention_mask=mask, max_new_tokens=20, static_cache=True), expected)
    assert torch.equal(generate(model, ids, attention_mask=mask, max_new_tokens=20, compile=True), expected)
    # Beam search reorders the rolling cache as it does the others.
    beams = dict(attention_mask=mask, max_new_tokens=12, num_beams=3, num_return_sequences=2)
    assert torch.equal(generate(model, ids, **beams), generate(model, ids, static_cache=True, **beams))


def test_rolling_cache_prefill_in_chunks_equals_a_full_pass():
    model = gpt3(attention=dict(pattern=["local"]))
    ids = torch.randint(1, 61, (2, 20), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0
    with torch.no_grad():
        full = model(ids, attention_mask=mask, position_ids=masks.positions(mask)).logits
        cache = model.new_cache()
        chunks = []
        for start, end in ((0, 9), (9, 11), (11, 12), (12, 20)):
            chunks.append(model(ids[:, start:end], attention_mask=mask[:, :end],
                                position_ids=masks.positions(mask)[:, start:end], cache=cache).logits)
    keep = mask.bool()
    torch.testing.assert_close(torch.cat(chunks, 1)[keep], full[keep], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("window", [1, 2, WINDOW])
def test_rolling_cache_memory_stays_flat_past_the_window(window):
    model = gpt3(attention=dict(pattern=["local"], window=window))
    ids = torch.randint(1, 61, (2, 30), generator=torch.Generator().manual_seed(4))
    cache = model.new_cache()
    sizes, held = [], []
    with torch.no_grad():
        for t in range(ids.shape[1]):
            model(ids[:, t:t + 1], cache=cache)
            sizes.append({k.shape[-2] for k in cache.keys + cache.values})
            held.append(sum(x.untyped_storage().nbytes() for x in cache.keys + cache.values))
    assert cache.length == 30
    assert sizes == [{min(t + 1, window - 1)} for t in range(30)]
    assert len(set(held[window:])) == 1  # the bytes held stop growing once the window is full
