"""Fast paths agree with plain ones: cached vs uncached, SDPA vs eager, static vs dynamic
cache, batched left-padded prompts vs one prompt at a time."""

import pytest
import torch

from lmlineage.core.registry import get_family
from lmlineage.generation import generate
from lmlineage.layers.attention import set_attention_backend
from lmlineage.models import build_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = get_family("gpt2").config("tiny", vocab_size=61, n_layer=2, d_model=48, attention=dict(n_head=3),
                     max_positions=64)
    return build_model(cfg).eval()


def step_by_step_logits(model, ids, static=False):
    cache = model.new_cache(batch_size=ids.shape[0], max_length=ids.shape[1], static=static)
    out = []
    for t in range(ids.shape[1]):
        mask = torch.ones(ids.shape[0], t + 1, dtype=torch.long) if static else None
        out.append(model(ids[:, t : t + 1], attention_mask=mask, cache=cache).logits)
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("static", [False, True])
def test_cached_equals_uncached(model, static):
    ids = torch.randint(0, 61, (2, 20))
    with torch.no_grad():
        full = model(ids).logits
        cached = step_by_step_logits(model, ids, static)
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=1e-5)


def test_chunked_prefill_equals_full(model):
    ids = torch.randint(0, 61, (2, 20))
    with torch.no_grad():
        full = model(ids).logits
        cache = model.new_cache()
        first = model(ids[:, :12], cache=cache).logits
        second = model(ids[:, 12:], cache=cache).logits
    torch.testing.assert_close(torch.cat([first, second], 1), full, atol=1e-5, rtol=1e-5)


def test_sdpa_equals_eager(model):
    ids = torch.randint(0, 61, (3, 17))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    with torch.no_grad():
        sdpa = model(ids, attention_mask=mask).logits
        set_attention_backend(model, "eager")
        try:
            eager = model(ids, attention_mask=mask).logits
        finally:
            set_attention_backend(model, "sdpa")
    keep = mask.bool()
    torch.testing.assert_close(sdpa[keep], eager[keep], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("static", [False, True])
def test_left_padded_batch_equals_single_prompts(model, static):
    prompts = [torch.randint(1, 61, (n,)) for n in (3, 9, 6)]
    width = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = p
        mask[row, width - len(p):] = 1
    batched = generate(model, ids, attention_mask=mask, max_new_tokens=12, static_cache=static)
    for row, p in enumerate(prompts):
        single = generate(model, p[None], max_new_tokens=12)
        assert torch.equal(batched[row], single[0]), row


def test_sampling_is_seeded_and_respects_top_k(model):
    ids = torch.randint(0, 61, (1, 5))
    a = generate(model, ids, max_new_tokens=10, temperature=1.0, top_k=3, seed=4)
    b = generate(model, ids, max_new_tokens=10, temperature=1.0, top_k=3, seed=4)
    assert torch.equal(a, b)
    # every sampled token must be among the 3 most likely at its step
    seq = torch.cat([ids, a], 1)
    with torch.no_grad():
        logits = model(seq).logits[0, ids.shape[1] - 1 : -1]
    top3 = logits.topk(3, dim=-1).indices
    assert all(tok in row for tok, row in zip(a[0].tolist(), top3.tolist()))


def test_activation_checkpointing_gives_the_same_gradients(model):
    ids = torch.randint(0, 61, (2, 12))
    grads = []
    for flag in (False, True):
        model.train()
        model.backbone.checkpointing = flag
        model.zero_grad()
        model(ids).logits.square().mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    model.backbone.checkpointing = False
    model.eval()
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
